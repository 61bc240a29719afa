"""The server's warm-up runs the page scripts outside any session: there, widgets have no state, so the task
inputs and URL-bound run pickers must give the page's default view (what a first visitor sees), not whatever
a bare widget returns."""

from __future__ import annotations

import runpy
import threading
from pathlib import Path

import pytest

from ui import loaders, widgets

PAGES = Path(__file__).resolve().parent.parent / "pages"


class Reached(Exception):
    """Ends a page once the call under test is seen."""


def test_outside_a_session_is_not_a_script_run() -> None:
    assert widgets.in_script() is False


def test_landscapes_default_view_outside_a_session(monkeypatch) -> None:
    seen = []

    def fit(method, d, C, n):
        seen.append((method, d, C, n))
        raise Reached

    monkeypatch.setattr(loaders, "fit", fit)
    with pytest.raises(Reached):
        runpy.run_path(str(PAGES / "landscapes.py"), run_name="__main__")
    assert seen == [("adaptive", 3, 5, 100)]  # the page's default: eq. 1 at d = 3


@pytest.mark.parametrize("page", ["weights", "compare"])
def test_run_pages_default_run_outside_a_session(monkeypatch, page: str) -> None:
    seen = []

    def load_run(path):
        seen.append(path)
        raise Reached

    monkeypatch.setattr(loaders, "load_run", load_run)
    with pytest.raises(Reached):
        runpy.run_path(str(PAGES / f"{page}.py"), run_name="__main__")
    assert Path(seen[0]).parts[-2:] == ("pretrained", "fast-softmax-d3")  # the headline run: a first view


@pytest.mark.parametrize("busy", [False, True])
def test_demos_are_compiled_after_the_memory_budget_dropped_the_pages_programs(monkeypatch, busy: bool) -> None:
    """The slides and pages leave the server past its memory budget; were the demos compiled before the release,
    the first page run after the warm-up would drop them, and Start would compile again. A job started during the
    warm-up keeps its programs: the budget is told it is busy."""
    from engine import train
    from engine.config import PRESETS
    from ui import memory, talk, warmup

    monkeypatch.setattr(warmup.time, "sleep", lambda s: None)
    monkeypatch.setattr(talk, "SLIDES", [])
    monkeypatch.setattr(warmup, "PAGES", ())
    monkeypatch.setattr(warmup, "DEMOS", ("demo-linear-d2",))  # the quicker one
    monkeypatch.setattr(loaders.job_registry(), "busy", lambda: busy)
    released = []
    # what a release does to the engine (all of JAX's caches would go too: not in a shared test process)
    monkeypatch.setattr(memory, "keep_within_budget",
                        lambda busy: released.append(busy) or train.make_chunk.cache_clear() or True)
    warmup._run()
    config = PRESETS["demo-linear-d2"]
    assert released == [busy]
    assert train.make_chunk(config, config.eval_every)._cache_size() == 1  # Start's chunk: compiled and kept


def test_demos_are_compiled_again_after_a_release_when_they_fit(monkeypatch) -> None:
    from ui import memory, warmup

    calls = []
    monkeypatch.setattr(warmup, "_enabled", lambda: True)
    monkeypatch.setattr(warmup, "_demos", lambda: calls.append(1))
    monkeypatch.setattr(memory, "rss_mb", lambda: 500.0)
    monkeypatch.setattr(warmup, "_demos_mb", [300.0])
    monkeypatch.setattr(memory, "BUDGET_MB", 700.0)
    assert warmup.rewarm_demos() is False and calls == []  # 500 + 300 > 700: every page run would drop them again
    monkeypatch.setattr(memory, "BUDGET_MB", 1200.0)
    assert warmup.rewarm_demos() is True
    for t in threading.enumerate():
        if t.name == "warm-up":
            t.join(10)
    assert calls == [1]
