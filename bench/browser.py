"""What a user feels, in a real browser: key press on the query control to the chart redrawn, and each page's
first visit (navigation to the page idle), with the app served by `streamlit run` and driven by headless
Chromium (playwright, Debian's /usr/bin/chromium).

    .venv/bin/python -m bench.browser [--moves 12] [--baseline REV] [--pages] [--talk]

Query moves: the Contexts page at d = 2 and d = 3; the query control is focused and moved with the arrow key
`--moves` times; each move is timed in the page's own clock from the key press to the first change of a chart's
drawing, painted (and, for a Streamlit widget, to the page idle again after its rerun). With `--baseline REV` the
same is measured, in the same run, on the app of that git revision (a temporary worktree), whose query is a
Streamlit slider: the ratio of medians is the speed-up. `--pages` also times each page's first visit
(a fresh browser page each) and `--talk` each slide's (`talk?slide=k`), both once the server's background
warm-up has finished (its log line), and the cold start: server process start to the first chart drawn on Home.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._baseline import checkouts

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
ARM = """() => {
  const charts = Array.from(document.querySelectorAll('.vega-embed'));
  window.__pressed = null;
  document.addEventListener('keydown', () => { window.__pressed = performance.now(); }, {capture: true, once: true});
  window.__drawn = new Promise(resolve => {
    const obs = new MutationObserver(() => {
      obs.disconnect();
      requestAnimationFrame(() => resolve(performance.now() - window.__pressed));  // the redraw painted
    });
    charts.forEach(c => obs.observe(c, {subtree: true, attributes: true, childList: true, characterData: true}));
  });
}"""  # in the page's own clock: key press to the first change of a chart's drawing, painted
PAGES = ["", "contexts", "compare", "train", "weights", "strategies", "landscapes", "science"]
SLIDES = 10  # ui.talk.SLIDES (not imported here: the bench drives the app from outside)


@dataclasses.dataclass
class Server:
    url: str
    started: float  # time.perf_counter() when the process was started
    log: Path  # its stderr
    pid: int  # the server process, for its memory (bench/load.py)


@contextmanager
def served(root: Path, env: dict[str, str] | None = None, port: int | None = None) -> Iterator[Server]:
    """`streamlit run app.py` of the checkout at `root` on `port` (a free one by default), with `env` added to
    the environment, until the block ends."""
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(root)}
    log = Path(tempfile.mkdtemp(prefix="bench-server-")) / "stderr.log"
    with open(log, "w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(root / "app.py"), "--server.headless",
                                 "true", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                                cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                time.sleep(0.1)
        yield Server(f"http://127.0.0.1:{port}", started, log, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def cold_start(browser, server: Server) -> float:
    """Seconds from the server process's start to the first chart drawn on Home."""
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.goto(server.url, wait_until="domcontentloaded")
    page.wait_for_selector(".vega-embed svg, .vega-embed canvas", timeout=300_000)
    took = time.perf_counter() - server.started
    settle(page)
    page.close()
    return took


def wait_warm(server: Server, timeout: float = 600) -> str:
    """Until the server's warm-up has finished; returns its log line."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = [ln for ln in server.log.read_text().splitlines() if "warm-up done" in ln]
        if done:
            return done[0]
        time.sleep(0.5)
    return "warm-up not finished"


def settle(page) -> None:
    page.wait_for_selector(IDLE, timeout=600_000)
    page.wait_for_timeout(800)
    page.wait_for_selector(IDLE, timeout=600_000)


def query_moves(browser, url: str, d: int, moves: int) -> tuple[str, list[float]]:
    """Milliseconds from each arrow-key press to the redrawn chart (and the idle page)."""
    page = browser.new_page(viewport={"width": 1500, "height": 1400})
    page.goto(f"{url}/contexts", wait_until="domcontentloaded")
    settle(page)
    if d == 3:
        page.locator('input[aria-label="d (dimension)"]').fill("3")
        page.keyboard.press("Enter")
        settle(page)
    in_chart = page.locator(".vega-bind", has_text="query").locator("input[type=range]")
    if in_chart.count():
        control, kind = in_chart.first, "in the chart (Vega param)"
    else:
        control, kind = page.locator('[data-testid="stSlider"] input[type=range]').first, "Streamlit slider"
    control.focus()
    times = []
    for _ in range(moves):
        page.evaluate(ARM)
        page.keyboard.press("ArrowRight")
        ms = page.evaluate("() => window.__drawn")
        page.wait_for_selector(IDLE, timeout=60_000)  # a Streamlit widget: the rerun must also have ended
        idle = page.evaluate("() => performance.now() - window.__pressed")
        times.append(max(ms, idle) if kind == "Streamlit slider" else ms)
        page.wait_for_timeout(300)  # a user's pause between presses; lets a debounced widget settle
    page.close()
    return kind, times


def first_visits(browser, url: str, paths: list[str]) -> list[tuple[str, float]]:
    """Seconds from navigation to the page idle (charts drawn), a fresh browser page for each path."""
    out = []
    for path in paths:
        page = browser.new_page(viewport={"width": 1500, "height": 1400})
        t0 = time.perf_counter()
        page.goto(f"{url}/{path}", wait_until="domcontentloaded")
        settle(page)
        out.append((path or "home", time.perf_counter() - t0 - 0.8))
        page.close()
    return out


DRAWN_ALL = """() => { const c = Array.from(document.querySelectorAll('.vega-embed'));
  return c.every(e => e.querySelector('svg, canvas')); }"""


def _ready(page, text: str, heading: bool = False) -> None:
    """Until `text` shows (as the page's title with `heading`), the script has ended and every chart has drawn."""
    where = page.locator("h1", has_text=text) if heading else page.get_by_text(text, exact=True)
    where.first.wait_for(timeout=600_000)
    page.wait_for_selector(IDLE, timeout=600_000)
    page.wait_for_function(DRAWN_ALL, timeout=600_000)


def slide_steps(browser, url: str, n: int) -> list[tuple[str, float]]:
    """Each slide as a speaker reaches it: slide 1 opened in a fresh tab, then Right arrow to the next one,
    timed from the key press to the next slide's headline shown, the page idle and every chart drawn (the
    frontend is loaded once, as in a talk). The progress `k / n` changes in the browser at once, so the
    headline, which the page's run draws, marks the slide."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    t0 = time.perf_counter()
    page.goto(f"{url}/talk?slide=1", wait_until="domcontentloaded")
    _ready(page, f"1 / {n}")
    out = [("slide 1 (fresh tab)", time.perf_counter() - t0)]
    for k in range(2, n + 1):
        before = page.locator(".talk-headline").inner_text()
        t0 = time.perf_counter()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("(b) => { const e = document.querySelector('.talk-headline'); return e && "
                               "e.innerText !== b; }", arg=before, timeout=600_000)
        _ready(page, f"{k} / {n}")
        out.append((f"slide {k}", time.perf_counter() - t0))
    page.close()
    return out


def page_steps(browser, url: str) -> list[tuple[str, float]]:
    """Each page's default view as a visitor reaches it: Home in a fresh tab, then a click on each page in the
    sidebar, timed from the click to the page idle and drawn."""
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    t0 = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    _ready(page, "kernel-icl explorer", heading=True)
    out = [("home (fresh tab)", time.perf_counter() - t0)]
    for path in PAGES[1:]:
        title = page.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]').first
        name = title.inner_text().strip()
        t0 = time.perf_counter()
        title.click()
        page.wait_for_function(f"() => location.pathname.endsWith('/{path}')", timeout=60_000)
        _ready(page, name, heading=True)
        out.append((path, time.perf_counter() - t0))
    page.close()
    return out


def report(label: str, visits: list[tuple[str, float]], goal: float) -> None:
    for name, s in visits:
        print(f"  {name}: {s:.2f} s", flush=True)
    times = [s for _, s in visits]
    print(f"{label}: median {statistics.median(times):.2f} s, max {max(times):.2f} s (goal <= {goal:g} s; "
          f"{sum(t <= goal for t in times)}/{len(times)} within)", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=12)
    ap.add_argument("--baseline", help="git revision whose app is measured the same way, for the ratio")
    ap.add_argument("--pages", action="store_true", help="also time each page's first visit, after the warm-up")
    ap.add_argument("--talk", action="store_true", help="also time each slide's first visit, after the warm-up")
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 3], choices=[2, 3], help="the contexts' d to move in")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from engine.runtime import device_summary

    print(f"device: {device_summary()} (server); browser: headless Chromium", flush=True)
    results = {}
    with checkouts(args.baseline) as roots, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for label, root in roots:
            with served(root) as server:
                url = server.url
                if (args.pages or args.talk) and root == ROOT:
                    print(f"cold start to the first chart on Home: {cold_start(browser, server):.2f} s (goal "
                          "<= 5 s)", flush=True)
                    print(wait_warm(server), flush=True)
                    if args.talk:
                        report("slides, Right arrow from the previous one", slide_steps(browser, url, SLIDES), 1.0)
                        report("slides, each in a fresh tab", first_visits(browser, url, [
                            f"talk?slide={k}" for k in range(1, SLIDES + 1)]), 1.0)
                    if args.pages:
                        report("pages, clicked in the sidebar", page_steps(browser, url), 2.0)
                        report("pages, each in a fresh tab", first_visits(browser, url, PAGES), 2.0)
                for d in args.dims if args.moves > 0 else ():
                    kind, times = query_moves(browser, url, d, args.moves)
                    results[(label, d)] = statistics.median(times)
                    print(f"{label}, d = {d}, query {kind}: median {statistics.median(times):.0f} ms, "
                          f"min {min(times):.0f}, max {max(times):.0f} ({len(times)} moves)", flush=True)
        browser.close()
    if args.baseline and args.moves > 0:
        for d in args.dims:
            new, old = results[("this checkout", d)], results[(f"baseline {args.baseline}", d)]
            print(f"d = {d}: {old:.0f} ms -> {new:.0f} ms, {old / new:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
