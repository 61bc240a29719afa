"""The server's memory budget: past it, and only while nothing computes, JAX's compiled programs and the engine's
jitted-function caches are dropped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ui import memory

ROOT = Path(__file__).resolve().parent.parent


def test_release_only_past_the_budget_and_when_idle(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(memory, "release", lambda: calls.append(1) or 0.0)
    assert memory.keep_within_budget(busy=True, budget_mb=0) is False  # a job runs: nothing is touched
    assert memory.keep_within_budget(busy=False, budget_mb=1e9) is False  # under the budget: nothing either
    assert calls == []
    assert memory.keep_within_budget(busy=False, budget_mb=0) is True and calls == [1]


def test_release_drops_compiled_programs_which_compile_again_when_needed() -> None:
    """In a process of its own: dropping JAX's programs here would make every later test in this worker
    compile its programs again."""
    script = """
import jax, jax.numpy as jnp
from engine import learners
from ui import memory
learners._jitted("linear", False)
double = jax.jit(lambda x: 2 * x)
double(jnp.ones(3))
assert learners._jitted.cache_info().currsize == 1 and double._cache_size() == 1
after = memory.release()
assert learners._jitted.cache_info().currsize == 0 and double._cache_size() == 0 and after > 10
assert float(double(jnp.ones(3))[0]) == 2.0
print("ok")
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_rss_is_read_from_proc() -> None:
    assert memory.rss_mb() > 10
