"""Work done once per server process, in the background, so that the talk's slides and every page's default view
show at once: the slides' own drawing functions, then the page scripts themselves, run ahead of the first visitor
outside any session (Streamlit's calls draw nothing there, widgets give their defaults, the caches fill all the
same). The page being visited is never held up: this runs in a daemon thread that first lets that page render."""

from __future__ import annotations

import logging
import os
import runpy
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


DEMOS = ("demo-softmax-d3", "demo-linear-d2")  # the Train page's demo presets, compiled ahead of a click
PAGES = ("home", "contexts", "compare", "weights", "strategies", "landscapes")  # their default views


def _demos() -> None:
    """Compiles the demo presets' programs (from the persistent compilation cache after a first process): a click
    on Start then trains at once (a speaker's demo). Nothing trains read-only."""
    from engine import train
    from engine.config import PRESETS
    from engine.runs import read_only
    from ui import memory

    before = memory.rss_mb()
    for name in () if read_only() else DEMOS:
        try:
            train.warm(PRESETS[name])
        except Exception:
            log.debug("warm-up of preset %s failed", name, exc_info=True)
    _demos_mb[0] = max(memory.rss_mb() - before, 0.0)


_demos_mb = [300.0]  # what the demos' programs add to the process (measured by each `_demos`; ~270 MB on a CPU)


def _run() -> None:
    time.sleep(1.0)  # let the first page render first
    t0 = time.time()
    from ui import loaders, memory, talk

    for slide in talk.SLIDES:  # the slides' builders fill the caches the Talk page reads
        try:
            loaders.slide_content(slide)
        except Exception:  # a missing shipped file: the slide says so when visited
            log.debug("warm-up of slide %s failed", slide.key, exc_info=True)
    t1 = time.time()
    for page in PAGES:
        try:
            runpy.run_path(str(ROOT / "pages" / f"{page}.py"), run_name="__main__")
        except BaseException:  # noqa: BLE001 - st.stop() and friends end a page early; nothing else is at stake
            log.debug("warm-up of page %s ended early", page, exc_info=True)
    t2 = time.time()
    # The slides and pages leave the process past its memory budget (ui/memory.py): their programs are dropped
    # now, before the demos are compiled, or the first page run after the warm-up would drop the demos' and a
    # click on Start would trace and compile them again (~6 s of a demo's 25). Not while a job trains (a visitor may
    # have pressed Start during the warm-up): its programs would go from under it.
    memory.keep_within_budget(busy=loaders.job_registry().busy())
    _demos()
    print(f"warm-up done in {time.time() - t0:.1f} s (slides {t1 - t0:.1f} s, pages {t2 - t1:.1f} s, demo presets "
          f"{time.time() - t2:.1f} s)", file=sys.stderr, flush=True)


class _NotFromWarmUp(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning for the warm-up thread, where it is expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != "warm-up"


_started = threading.Lock()  # held for good by the first start: one warm-up per process


def _enabled() -> bool:
    """Off under pytest and with KICL_WARMUP=0, where a background thread would compete with the tests for the
    CPU."""
    return os.environ.get("KICL_WARMUP", "1") != "0" and "PYTEST_CURRENT_TEST" not in os.environ


def start() -> bool:
    """Starts the warm-up thread, once per process (app.py calls it on every run)."""
    if not _enabled() or not _started.acquire(blocking=False):
        return False
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_NotFromWarmUp())
    threading.Thread(target=_run, name="warm-up", daemon=True).start()
    return True


_rewarming = threading.Lock()


def rewarm_demos() -> bool:
    """After the memory budget dropped every compiled program (`ui.memory.keep_within_budget`): the demo presets'
    again, in the background, so that the next click on Start does not compile. Not while a warm-up runs, nor
    when they would not fit under the budget (each page run would drop and compile them again)."""
    from ui import memory

    if not _enabled() or memory.rss_mb() + _demos_mb[0] > memory.BUDGET_MB:
        return False
    with _rewarming:
        if running():
            return False
        threading.Thread(target=_demos, name="warm-up", daemon=True).start()
    return True


def running() -> bool:
    """Whether the warm-up thread is still at work."""
    return any(t.name == "warm-up" and t.is_alive() for t in threading.enumerate())
