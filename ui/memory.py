"""A memory budget for the server process: JAX's compiled programs, dropped when the process grows past it.

Why: the pages run many small JAX programs (metrics and gradients evaluated op by op, one program per shape),
and JAX keeps every compiled program for the life of the process, up to thousands of entries. A researcher's
walk through every page left ~880 of them, about 1.2 GB of the server's 2.1 GB; the Streamlit caches, bounded
by `max_entries`, held ~0.1 GB. Past the budget, after a page has run and while no training job or sweep is
running, the compiled programs and the engine's jitted-function caches are dropped and the freed heap is
returned to the system; a later view compiles again from the persistent compilation cache on disk
(`engine.runtime`), in a fraction of the first compile.
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
from pathlib import Path

BUDGET_MB = float(os.environ.get("KICL_MEMORY_MB", "1200"))
_lock = threading.Lock()


def rss_mb() -> float:
    """This process's resident memory, in MB (0 where /proc is not there)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def release() -> float:
    """Drop JAX's compiled programs and the engine's jitted-function caches, collect, and hand freed heap back
    to the system. Returns the resident memory after, in MB."""
    import jax

    from engine import learners, sweep, train

    jax.clear_caches()
    for module in (learners, sweep, train):
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)) and hasattr(value, "cache_info"):
                value.cache_clear()
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the memory stays with the allocator for reuse
        pass
    return rss_mb()


def keep_within_budget(busy: bool, budget_mb: float = BUDGET_MB) -> bool:
    """Release when the process is over `budget_mb` and nothing is computing (`busy`: a job or sweep runs).
    Returns whether it released. Cheap when under the budget (one read of /proc)."""
    if busy or rss_mb() <= budget_mb or not _lock.acquire(blocking=False):
        return False
    try:
        release()
        return True
    finally:
        _lock.release()
