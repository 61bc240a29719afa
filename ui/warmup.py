"""Work done once per server process, in the background, so that the talk's slides show at once: the same
loaders the slides call, run ahead of the first visitor. The page being visited is never held up: this runs in
a daemon thread that first lets that page render."""

from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger(__name__)


def _run() -> None:
    time.sleep(1.0)  # let the first page render first
    t0 = time.time()
    from ui import talk

    for slide in talk.SLIDES:  # outside a script run, st.* calls draw nothing; the caches fill all the same
        try:
            slide.draw()
        except Exception:  # a missing shipped file: the slide says so when visited
            log.debug("warm-up of slide %s failed", slide.key, exc_info=True)
    log.info("warm-up done in %.1f s", time.time() - t0)


def start() -> bool:
    """Starts the warm-up thread (once per process: the caller caches it). Off under pytest and with
    KICL_WARMUP=0, where a background thread would compete with the tests for the CPU."""
    if os.environ.get("KICL_WARMUP", "1") == "0" or "PYTEST_CURRENT_TEST" in os.environ:
        return False
    threading.Thread(target=_run, name="warm-up", daemon=True).start()
    return True
