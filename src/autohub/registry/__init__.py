"""The registry: the single source of truth for automation definitions."""
