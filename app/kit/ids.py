"""Opaque, time-sortable identifiers with a type prefix (``lot_01JD...``).

48 bits of millisecond timestamp + 80 random bits, Crockford base32 (26 chars), like ULID.
Sorting ids sorts by creation time, so "newest first" is a keyset order on the id alone.
"""

from __future__ import annotations

import os
import re
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_ID_RE = re.compile(r"^[a-z]{2,8}_[0-9a-hjkmnp-tv-z]{26}$")


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 characters


def _encode(value: int, length: int) -> str:
    """``value`` in ``length`` base32 digits (most significant first; ``length`` even)."""
    return "".join(_PAIRS[(value >> (10 * i)) & 1023] for i in range(length // 2 - 1, -1, -1))


def new_id(prefix: str) -> str:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_encode((ms << 80) | rand, 26)}"


def is_valid_id(value: str, prefix: str | None = None) -> bool:
    if not _ID_RE.match(value):
        return False
    return prefix is None or value.startswith(prefix + "_")
