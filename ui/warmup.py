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


def _run() -> None:
    time.sleep(1.0)  # let the first page render first
    t0 = time.time()
    from ui import loaders, talk

    for slide in talk.SLIDES:  # the slides' builders fill the caches the Talk page reads
        try:
            loaders.slide_content(slide)
        except Exception:  # a missing shipped file: the slide says so when visited
            log.debug("warm-up of slide %s failed", slide.key, exc_info=True)
    from engine import train
    from engine.config import PRESETS
    from engine.runs import read_only

    # A click on Start trains at once: the programs are compiled (a speaker's demo). Nothing trains read-only.
    for name in () if read_only() else DEMOS:
        try:
            train.warm(PRESETS[name])
        except Exception:
            log.debug("warm-up of preset %s failed", name, exc_info=True)
    t1 = time.time()
    for page in PAGES:
        try:
            runpy.run_path(str(ROOT / "pages" / f"{page}.py"), run_name="__main__")
        except BaseException:  # noqa: BLE001 - st.stop() and friends end a page early; nothing else is at stake
            log.debug("warm-up of page %s ended early", page, exc_info=True)
    print(f"warm-up done in {time.time() - t0:.1f} s (slides and demo presets {t1 - t0:.1f} s, pages "
          f"{time.time() - t1:.1f} s)",
          file=sys.stderr, flush=True)


class _NotFromWarmUp(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning for the warm-up thread, where it is expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != "warm-up"


_started = threading.Lock()  # held for good by the first start: one warm-up per process


def start() -> bool:
    """Starts the warm-up thread, once per process (app.py calls it on every run). Off under pytest and with
    KICL_WARMUP=0, where a background thread would compete with the tests for the CPU."""
    if os.environ.get("KICL_WARMUP", "1") == "0" or "PYTEST_CURRENT_TEST" in os.environ:
        return False
    if not _started.acquire(blocking=False):
        return False
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_NotFromWarmUp())
    threading.Thread(target=_run, name="warm-up", daemon=True).start()
    return True


def running() -> bool:
    """Whether the warm-up thread is still at work."""
    return any(t.name == "warm-up" and t.is_alive() for t in threading.enumerate())
