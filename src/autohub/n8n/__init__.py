"""n8n: the ``n8n`` step kind (a workflow's production webhook), failure detection, the
breaker per instance and the recovery of failed calls through fallback chains."""
