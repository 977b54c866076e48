"""The cost of an ``n8n`` step over a direct httpx call to the same webhook (real n8n).

Times, interleaved, ``--calls`` calls of the ``autohub-ok`` workflow (Webhook -> Code)
three ways:

* ``direct``: ``httpx.AsyncClient.post`` on one pooled client and event loop;
* ``step``: the ``n8n`` step handler (``autohub.n8n.step.n8n_step``) on one event loop,
  as the engine's executor calls it (parse the spec, the instance breaker's read in a
  thread, the call, classification);
* ``run``: ``Hub.run`` of a one-step automation on SQLite (the engine and its store
  writes included), for scale.

Prints median and p95 in ms. A report, not a test: it exits 0 whatever the figures.

    . /tmp/env.sh && .venv/bin/python benchmarks/n8n.py --calls 50
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable

import httpx
from _common import command_line, comparison_table, load_average, scratch_dir, time_interleaved

PAYLOAD = {"job": "bench"}
EXPECTED = {"ok": True, "workflow": "autohub-ok", "echo": PAYLOAD}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--n8n-url", default=os.environ.get("AUTOHUB_TEST_N8N_URL"))
    args = parser.parse_args()
    if not args.n8n_url:
        parser.error("give --n8n-url or set AUTOHUB_TEST_N8N_URL")
    logging.basicConfig(level=logging.WARNING)

    from autohub.engine.actions.base import ActionRequest, run_action
    from autohub.engine.context import StepContext
    from autohub.hub import Hub
    from autohub.store import migrations

    with scratch_dir("autohub-bench-n8n-") as root:
        (root / "autohub.yaml").write_text(
            f"project: bench\nmodules: []\nn8n: {{base_url: '{args.n8n_url}'}}\n"
            "automations:\n  ok:\n    steps:\n"
            "      - {id: ok, n8n: {path: autohub-ok, payload: {job: bench}}, timeout: 10s}\n"
        )
        hub = Hub.from_config(root / "autohub.yaml", cwd=root)
        migrations.upgrade(hub.database)
        handler = hub.action_plugins()["n8n"]
        request = ActionRequest(
            kind="n8n",
            spec={"path": "autohub-ok", "payload": PAYLOAD},
            context=StepContext(
                run_id="bench",
                step_id="ok",
                automation="ok",
                attempt=1,
                params={},
                outputs={},
                idempotency_key=None,
                logger=logging.getLogger("bench"),
            ),
            timeout_seconds=10,
        )
        loop = asyncio.new_event_loop()
        client = httpx.AsyncClient(timeout=10)
        url = f"{args.n8n_url.rstrip('/')}/webhook/autohub-ok"

        def direct() -> None:
            response = loop.run_until_complete(client.post(url, json=PAYLOAD))
            assert response.status_code == 200, response
            assert response.json() == EXPECTED

        def step() -> None:
            result = loop.run_until_complete(run_action(request, handler=handler))
            assert result.ok, result
            assert result.output == EXPECTED, result

        def full_run() -> None:
            assert hub.run("ok").state == "succeeded"

        ways: dict[str, Callable[[], None]] = {"direct": direct, "step": step, "run": full_run}
        times = time_interleaved(ways, args.calls)
        loop.run_until_complete(client.aclose())
        loop.close()
        hub.close()
    print(f"# n8n step round trip (autohub-ok)\n\n{command_line(('--n8n-url',))}")
    print(f"load average: {load_average()}\n")
    print(comparison_table(times, "direct", over=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
