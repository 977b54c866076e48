"""The engine: decides what runs next, under which safeguards, and records every transition."""
