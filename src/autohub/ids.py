"""Identifiers: 32 hex digits, milliseconds first, so that they sort by creation time.

Event uids are indexed; random identifiers (uuid4) land on a random index page each,
which a large table pays for on every insert. Time-ordered ones append at the end of
the index, like UUIDv7. (Run ids stay uuid4: the CLI finds a run by its first six
characters, which time-ordered ids would share for hours.)
"""

from __future__ import annotations

import random
import time

_random_bits = random.getrandbits


def new_id() -> str:
    """12 hex digits of Unix milliseconds, then 80 random bits.

    ``random`` is seeded from the operating system at start-up and again in every forked
    child, so processes do not repeat each other; 80 bits per millisecond make a clash
    vanishingly unlikely. Not for secrets.
    """
    return f"{time.time_ns() // 1_000_000:012x}{_random_bits(80):020x}"
