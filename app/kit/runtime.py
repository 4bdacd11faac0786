"""Process-level tuning applied when an API worker starts (no HTTP, no DB)."""

from __future__ import annotations

import gc

__all__ = ["tune_gc"]


def tune_gc(gen0_threshold: int) -> None:
    """Collect young objects less often (see ``Settings.gc_gen0_threshold``), and move what
    start-up created out of the collector's reach (``gc.freeze``: those objects live as long
    as the process, a full pass would only walk them again). 0 keeps Python's thresholds."""
    if gen0_threshold <= 0:
        return
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
    gc.freeze()
