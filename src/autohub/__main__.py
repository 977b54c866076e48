"""Allow ``python -m autohub``."""

from __future__ import annotations

from autohub.cli import main

raise SystemExit(main())
