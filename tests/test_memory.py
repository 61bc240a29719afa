"""The server's memory budget: past it, and only while nothing computes, JAX's compiled programs and the engine's
jitted-function caches are dropped."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from engine import learners
from ui import memory


def test_over_budget_and_idle_drops_compiled_programs() -> None:
    learners._jitted("linear", False)
    double = jax.jit(lambda x: 2 * x)
    double(jnp.ones(3))
    assert learners._jitted.cache_info().currsize >= 1 and double._cache_size() == 1
    assert memory.keep_within_budget(busy=True, budget_mb=0) is False  # a job runs: nothing is touched
    assert learners._jitted.cache_info().currsize >= 1 and double._cache_size() == 1
    assert memory.keep_within_budget(busy=False, budget_mb=1e9) is False  # under the budget: nothing either
    assert double._cache_size() == 1
    assert memory.keep_within_budget(busy=False, budget_mb=0) is True
    assert learners._jitted.cache_info().currsize == 0 and double._cache_size() == 0
    assert float(double(jnp.ones(3))[0]) == 2.0  # and the program compiles again when next needed


def test_rss_is_read_from_proc() -> None:
    assert memory.rss_mb() > 10
