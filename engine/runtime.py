"""Process-level JAX settings shared by the app, the CLI, the benchmarks and the tests."""

from __future__ import annotations

import os
from pathlib import Path

import jax

DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".jax_cache"
# XLA's CPU code generator for fused loops: with the older emitters the engine's programs compile 1.3-1.5x
# faster, and sampling and training steps run as fast (the grid fit runs ~1.3x slower: ~20 ms per 2,000
# contexts); bench/compile.py measures both. Compiling is what a 2-core laptop waits for on every new task shape
# (a new d, C, n or batch), and what dominates the test suite. CPU only; an accelerator's compiler is untouched.
CPU_FLAGS = ("--xla_cpu_use_fusion_emitters=false",)
# XLA stops the process on a flag it does not know, so the flags are set only on the JAX they were measured on
# (the pins); another JAX, say on an accelerator machine, keeps XLA's defaults.
CPU_FLAGS_JAX = "0.10."


def set_cpu_flags() -> None:
    """Add CPU_FLAGS to XLA_FLAGS unless the user set them. XLA reads the variable when the backend starts
    (the first computation), so this runs on importing `engine`, before any engine code computes."""
    if not jax.__version__.startswith(CPU_FLAGS_JAX):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    extra = [f for f in CPU_FLAGS if f.split("=")[0] not in flags]
    if extra:
        os.environ["XLA_FLAGS"] = " ".join([flags, *extra]).strip()


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
