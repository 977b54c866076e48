"""The ``celery`` step kind: a task sent by name to a Celery app over its broker, its
result awaited with the step's timeout.

Celery is imported here only, never by the engine: :func:`autohub.broker.step.celery_step`
is the plug-in handler the Hub hands to the executor.
"""
