"""Process-level JAX settings shared by the app, the CLI, the benchmarks and the tests."""

from __future__ import annotations

import os
from pathlib import Path

import jax

DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".jax_cache"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path:
    """Keep compiled programs on disk so a new process skips most of JAX's compile time.

    The folder holds executable code: it lives inside the project and is never shared.
    """
    cache = Path(path or os.environ.get("KICL_JAX_CACHE", DEFAULT_CACHE)).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return cache


def device_summary() -> str:
    """Where JAX runs, in words: platform, device kind and count (said by the app, the CLIs and benches)."""
    devices = jax.devices()
    kinds = sorted({d.device_kind for d in devices})
    return f"{devices[0].platform} ({len(devices)} x {', '.join(kinds)}; JAX {jax.__version__})"
