"""The production-readiness gate: six checks on a tree, a GO / WARNING / NO-GO decision,
its confidence and the evidence behind it (``autohub check``, ``POST /v1/gate/check``
and the ``gate`` step kind).

    runner.py     runs the checks (each in its own failure domain) into a GateReport
    checks/       the checks: commands (tests, performance, integration), security,
                  files (documentation, rollback)
    decision.py   the decision table and the confidence
    report.py     CheckResult, GateReport, and the ``production_check`` event
    tree.py       the files of a tree as git sees them, and where a tree may be
    command.py    a configured command run in the tree, and its JUnit XML counts
    step.py       the ``gate`` step kind
"""
