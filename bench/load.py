"""A room full of viewers on one audience server: many people walking the talk at once, each in their own
session, as when a speaker puts the link on screen.

    .venv/bin/python -m bench.load [--viewers 20] [--moves N] [--port P] [--dwell S] [--via websocket|browser]

Starts `streamlit run app.py --server.headless true` with `KICL_READ_ONLY=1` (as an audience server runs) and
the background warm-up on, opens the talk once so the warm-up starts and waits for its "warm-up done" line,
then opens `--viewers` viewers on `/talk`, all at once, each in its own Streamlit session. Once all have slide 1,
each presses Right `--moves` times (by default through the whole talk; past the last slide it turns round
with Left), pausing `--dwell` seconds (0.5-1.5x, drawn per press) after each slide arrives.

Two routes. `--via websocket` (the default) speaks Streamlit's websocket as the frontend does: a key press is
the navigation component's trigger asking for the next slide (what the talk's key listener sends), timed from
sending it to the end of the run it starts, all its messages received; the page must write `?slide=k`. This is
the server's side of a slide change: a room's own devices draw the slide, in parallel, each on its own (about
0.2 s more at one viewer: see the browser route). `--via browser` opens a real Chromium context per viewer
(one headless Chromium; each context has its own cookies, session and BroadcastChannel, so no viewer drives
another) and times each change in the page's own clock, from just before the key is sent to the next slide's
headline shown, the page idle (`data-test-script-state="notRunning"`) and every chart drawn, painted: what
bench/browser.py --talk waits for. Why the websocket is the default: measured on this machine's 2 cores, 20
Chromium contexts ran without errors in about 5 GB, but took 149 of the 186 core-seconds of the walk against
the server's 33, so their figures measured the browsers' contention more than the server; over the websocket
the 20 viewers cost under 1 core-second and the server has the machine as it would in a room.

Errors: exceptions thrown in a page or runs that did not finish, a slide other than the one asked for, changes
not done in `--timeout` seconds, and `stException` elements. The server's memory is its resident set with its
children's (VmRSS from /proc), sampled every 0.2 s from its start. The table gives the figures against the
goals: p95 <= 2 s, no errors, RSS <= 2 GB. The CPU line splits the viewers' run's CPU time between the server,
the viewers (this script and its browsers) and whatever else runs on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.browser import ARGS, CHROMIUM, DRAWN_ALL, IDLE, ROOT, SLIDES, served, wait_warm
from bench.memory import rss_mb

GOAL_P95_S, GOAL_ERRORS, GOAL_RSS_MB = 2.0, 0, 2048.0
VIEWPORT = {"width": 1280, "height": 720}  # the talk's own layout
ARM = """(idle) => {
  const drawn = __DRAWN__;
  const before = (document.querySelector('.talk-headline') || {}).innerText;
  window.__step = new Promise(resolve => {
    let done = false;
    const check = () => {
      const h = document.querySelector('.talk-headline');
      if (done || !h || h.innerText === before || !document.querySelector(idle) || !drawn()) return;
      done = true;
      obs.disconnect();
      clearInterval(tick);
      requestAnimationFrame(() => resolve({ms: performance.now() - window.__pressed,
        exceptions: document.querySelectorAll('[data-testid="stException"]').length}));  // painted
    };
    const obs = new MutationObserver(check);
    obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    const tick = setInterval(check, 50);  // a state reached without a mutation after it
  });
  window.__pressed = performance.now();
}""".replace("__DRAWN__", DRAWN_ALL)  # armed before the press: the change cannot finish unseen


@dataclasses.dataclass
class Viewer:
    """One viewer's record: slide change times (ms), first open (s) and what went wrong."""

    changes: list[float] = dataclasses.field(default_factory=list)
    opened: float = float("nan")
    problems: list[str] = dataclasses.field(default_factory=list)  # a page's exceptions, runs gone wrong
    open_timeouts: int = 0  # slide 1 never drawn: this viewer walked nothing
    timeouts: int = 0
    exceptions: int = 0


class TreeRss:
    """Peak resident memory of a process with its children, sampled in a thread while the block runs."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid, self.every, self._stop = pid, every, threading.Event()
        self.peak = self.since = 0.0  # since: the peak after the last `restart`
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def now(self) -> float:
        """The tree's resident memory now, in MB: a server's workers count against its budget too."""
        total = 0.0
        for pid in descendants(self.pid, include_self=True):
            try:
                total += rss_mb(pid)[0]
            except (OSError, KeyError):  # ended between listing and reading
                pass
        return total

    def restart(self) -> None:
        """Starts `since` again, to tell the viewers' peak from the warm-up's."""
        self.since = 0.0

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = self.now()
            self.peak, self.since = max(self.peak, rss), max(self.since, rss)
            self._stop.wait(self.every)


def descendants(pid: int, include_self: bool = False) -> list[int]:
    """The process's children, their children and so on, from /proc's per-thread `children` lists."""
    out, todo = ([pid] if include_self else []), [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of the processes that still run."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def machine_busy_seconds() -> float:
    """CPU time every core of the machine has spent busy since boot (all processes, ours or not)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


async def settled(page, timeout_s: float) -> None:
    """Until the page's run has ended and every chart has drawn."""
    await page.wait_for_selector(IDLE, timeout=timeout_s * 1000)
    await page.wait_for_function(DRAWN_ALL, timeout=timeout_s * 1000)


Change = Callable[[int, str], Awaitable[tuple[float, int]]]  # (slide asked for, key) -> (ms, exceptions shown)
Opened = tuple[Change, Callable[[], Awaitable[None]]]  # a viewer on slide 1: how it changes slide, how it leaves


async def walk_talk(rec: Viewer, i: int, opening: Awaitable[Opened], moves: int, dwell: float, timeout_s: float,
                    all_open: asyncio.Barrier) -> tuple[Viewer, Callable[[], Awaitable[None]]]:
    """One viewer, by either route: open the talk, wait for the room, then press Right `moves` times (Left
    back from the last slide), a dwell apart. Returns the record and how to close the viewer, which the
    caller does once it has read the CPU times."""
    rng = random.Random(i)
    t0 = time.perf_counter()
    try:
        change, close = await asyncio.wait_for(opening, timeout_s)
        rec.opened = time.perf_counter() - t0
    except Exception:  # noqa: BLE001 - a viewer who never got slide 1 is one error, and walks nothing
        rec.open_timeouts += 1
        await all_open.wait()
        return rec, _nothing
    await all_open.wait()
    slide = 1
    for _ in range(moves):
        await asyncio.sleep(dwell * rng.uniform(0.5, 1.5))
        key = "ArrowRight" if slide < SLIDES else "ArrowLeft"
        slide += 1 if key == "ArrowRight" else -1
        try:
            ms, exceptions = await asyncio.wait_for(change(slide, key), timeout_s)
        except TimeoutError:
            rec.timeouts += 1
            break  # the walk is off; its later changes would time nothing true
        rec.changes.append(ms)
        rec.exceptions += exceptions
    return rec, close


async def _nothing() -> None:
    """Closing a viewer that never opened."""


async def browser_viewer(browser, url: str, rec: Viewer, timeout_s: float) -> Opened:
    """A fresh browser context on /talk, slide 1 drawn; its changes are key presses timed in the page."""
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.on("pageerror", lambda e: rec.problems.append(str(e)))
    await page.goto(f"{url}/talk", wait_until="domcontentloaded", timeout=timeout_s * 1000)
    await page.get_by_text(f"1 / {SLIDES}", exact=True).wait_for(timeout=timeout_s * 1000)  # keys listened
    await settled(page, timeout_s)

    async def change(slide: int, key: str) -> tuple[float, int]:
        await page.evaluate(ARM, IDLE)
        await page.keyboard.press(key)
        got = await page.evaluate("() => window.__step")
        return got["ms"], got["exceptions"]

    return change, context.close


class WsTalk:
    """One Streamlit session over the app's websocket, as the frontend speaks it: `rerun_script` back
    messages in, forward messages out until the run's `script_finished`."""

    def __init__(self, ws, url: str) -> None:
        self.ws, self.url = ws, url
        self.cached: set[str] = set()  # hashes of cacheable messages held, as a browser reports them
        self.nav_id = self.page_hash = ""  # the talk_nav component's widget id, the talk page's script hash
        self.seq = 0

    async def run(self, msg) -> tuple[str, int, list[str]]:
        """Sends a rerun and reads to its end (past runs ended early for a rerun): returns the query string the
        page wrote, the exception elements it sent and what else went wrong."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg.rerun_script.context_info.url = f"{self.url}/talk"
        msg.rerun_script.cached_message_hashes.extend(sorted(self.cached))
        await self.ws.send(msg.SerializeToString())
        query, exceptions = "", 0
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await self.ws.recv())
            kind = fwd.WhichOneof("type")
            if fwd.metadata.cacheable:
                self.cached.add(fwd.hash)
            if kind == "page_info_changed":
                query = fwd.page_info_changed.query_string
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                exceptions += element.WhichOneof("type") == "exception"
                if element.WhichOneof("type") == "bidi_component" and element.bidi_component.id.endswith("talk_nav"):
                    self.nav_id, self.page_hash = element.bidi_component.id, fwd.metadata.active_script_hash
            elif kind == "script_finished":
                status = ForwardMsg.ScriptFinishedStatus.Name(fwd.script_finished)
                if status == "FINISHED_EARLY_FOR_RERUN":
                    continue
                return query, exceptions, [] if status == "FINISHED_SUCCESSFULLY" else [f"run ended: {status}"]

    async def go(self, slide: int) -> tuple[str, int, list[str]]:
        """What a key press sends: the navigation component's trigger asking for `slide`."""
        from streamlit.components.v2.bidi_component.main import _make_trigger_id  # the frontend's own rule
        from streamlit.proto.BackMsg_pb2 import BackMsg

        self.seq += 1
        msg = BackMsg()
        msg.rerun_script.page_script_hash = self.page_hash
        widget = msg.rerun_script.widget_states.widgets.add()
        widget.id = _make_trigger_id(self.nav_id, "events")  # the frontend sends all of a run's events as one
        widget.json_trigger_value = json.dumps([{"event": "go", "value": {"slide": slide, "seq": self.seq}}])
        return await self.run(msg)


async def ws_viewer(url: str, rec: Viewer) -> Opened:
    """A fresh session on the app's websocket that opens /talk; its changes are timed from sending the key's
    trigger to the end of the run it starts."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg

    ws = await websockets.connect(f"ws{url.removeprefix('http')}/_stcore/stream", subprotocols=["streamlit"],
                                  max_size=None)
    talk = WsTalk(ws, url)
    msg = BackMsg()
    msg.rerun_script.page_name = "talk"
    msg.rerun_script.widget_states.SetInParent()
    _, exceptions, problems = await talk.run(msg)
    rec.exceptions += exceptions
    rec.problems += problems
    if not talk.nav_id:
        rec.problems.append("no slide navigation on /talk")

    async def change(slide: int, key: str) -> tuple[float, int]:
        t0 = time.perf_counter()
        query, exceptions, problems = await talk.go(slide)
        took = (time.perf_counter() - t0) * 1e3
        rec.problems += problems + ([f"asked for slide {slide}, the page wrote ?{query}"]
                                       if query != f"slide={slide}" else [])
        return took, exceptions

    return change, ws.close


async def walk(via: str, url: str, viewers: int, moves: int, dwell: float, timeout_s: float, server_pid: int,
               warm: Callable[[], str], rss: TreeRss) -> tuple[list[Viewer], dict[str, float]]:
    """Starts the warm-up (one viewer opens the talk and leaves), waits for it, then runs every viewer at once;
    returns their records and the CPU times of the viewers' run."""
    async with contextlib.AsyncExitStack() as stack:
        if via == "browser":
            from playwright.async_api import async_playwright

            playwright = await stack.enter_async_context(async_playwright())
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            stack.push_async_callback(browser.close)

            def opening(rec: Viewer) -> Awaitable[Opened]:
                return browser_viewer(browser, url, rec, timeout_s)
        else:
            def opening(rec: Viewer) -> Awaitable[Opened]:
                return ws_viewer(url, rec)
        first = Viewer()  # a first run of app.py starts the warm-up
        _, close = await walk_talk(first, -1, opening(first), 0, dwell, 600, asyncio.Barrier(1))
        await close()
        print(await asyncio.to_thread(warm), flush=True)
        server = descendants(server_pid, include_self=True)

        def clients() -> list[int]:
            return [pid for pid in [os.getpid(), *descendants(os.getpid())] if pid not in server]

        rss.restart()
        cpu0 = (cpu_seconds(server), cpu_seconds(clients()), machine_busy_seconds(), time.perf_counter())
        all_open = asyncio.Barrier(viewers)
        records = [Viewer() for _ in range(viewers)]
        done = await asyncio.gather(*(walk_talk(rec, i, opening(rec), moves, dwell, timeout_s, all_open)
                                      for i, rec in enumerate(records)))
        cpu = {"server": cpu_seconds(server) - cpu0[0], "clients": cpu_seconds(clients()) - cpu0[1],
               "machine": machine_busy_seconds() - cpu0[2], "wall": time.perf_counter() - cpu0[3]}
        for _, close in done:
            await close()
    return records, cpu


def verdict(ok: bool) -> str:
    """The table's last column."""
    return "ok" if ok else "MISS"


def table(records: list[Viewer], peak_mb: float) -> list[str]:
    """The figures against the goals, one row each."""
    ms = sorted(t for r in records for t in r.changes)
    p50 = statistics.median(ms) / 1e3 if ms else float("nan")
    p95 = (statistics.quantiles(ms, n=100, method="inclusive")[94] if len(ms) > 1 else ms[0] if ms
           else float("nan")) / 1e3
    top = ms[-1] / 1e3 if ms else float("nan")
    problems = sum(len(r.problems) for r in records)
    timeouts, exceptions = sum(r.timeouts for r in records), sum(r.exceptions for r in records)
    open_timeouts = sum(r.open_timeouts for r in records)
    errors = problems + open_timeouts + timeouts + exceptions
    rows = [("viewers", f"{len(records)}", "", ""),
            ("slide changes", f"{len(ms)}", "", ""),
            ("p50", f"{p50:.2f} s", "", ""),
            ("p95", f"{p95:.2f} s", f"<= {GOAL_P95_S:g} s", verdict(p95 <= GOAL_P95_S)),
            ("max", f"{top:.2f} s", "", ""),
            ("errors", f"{errors}", f"{GOAL_ERRORS}", verdict(errors <= GOAL_ERRORS and bool(ms))),
            ("  errors in page or run", f"{problems}", "", ""),
            ("  timeouts, opening", f"{open_timeouts}", "", ""),
            ("  timeouts, changing", f"{timeouts}", "", ""),
            ("  stException shown", f"{exceptions}", "", ""),
            ("server peak RSS", f"{peak_mb:.0f} MB", f"<= {GOAL_RSS_MB:.0f} MB", verdict(peak_mb <= GOAL_RSS_MB))]
    return [f"{a:<24} {b:>10} {c:>12} {d:>5}" for a, b, c, d in [("", "value", "goal", ""), *rows]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--moves", type=int, default=SLIDES - 1, help="slide changes per viewer (default: the talk)")
    ap.add_argument("--port", type=int, help="the server's port (default: a free one)")
    ap.add_argument("--dwell", type=float, default=1.0, help="seconds on a slide before the next press (mean)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds a slide change may take")
    ap.add_argument("--via", choices=["websocket", "browser"], default="websocket",
                    help="Streamlit's websocket (the server's side) or a Chromium context per viewer")
    args = ap.parse_args(argv)
    from engine.runtime import device_summary

    how = (f"headless Chromium, {args.viewers} contexts" if args.via == "browser" else
           f"{args.viewers} sessions on Streamlit's websocket, no browser")
    print(f"device: {device_summary()} (server); viewers: {how}", flush=True)
    env = {"KICL_READ_ONLY": "1", "KICL_WARMUP": "1"}
    with served(ROOT, env=env, port=args.port) as server, TreeRss(server.pid) as rss:
        records, cpu = asyncio.run(walk(args.via, server.url, args.viewers, args.moves, args.dwell, args.timeout,
                                        server.pid, lambda: wait_warm(server), rss))
        opened = [r.opened for r in records if r.opened == r.opened]
        if opened:
            print(f"talk opened by {len(opened)} viewers at once: median {statistics.median(opened):.1f} s, "
                  f"max {max(opened):.1f} s", flush=True)
        others = cpu["machine"] - cpu["server"] - cpu["clients"]
        print(f"CPU during the viewers' run, of {cpu['wall'] * os.cpu_count():.0f} core-s ({cpu['wall']:.0f} s wall, "
              f"{os.cpu_count()} cores): server {cpu['server']:.0f} s, viewers (this script and its browsers) "
              f"{cpu['clients']:.0f} s, other processes {max(others, 0):.0f} s", flush=True)
        print(f"server RSS: peak {rss.peak:.0f} MB since its start (warm-up included), {rss.since:.0f} MB "
              f"while the viewers ran, {rss.now():.0f} MB at the end", flush=True)
    for r in records:
        for e in r.problems[:3]:
            print(f"  error: {e[:200]}", flush=True)
    print(f"\nkernel-icl explorer, {args.viewers} viewers walking the talk by {args.via} (KICL_READ_ONLY=1, "
          f"dwell {args.dwell:g} s)")
    print("\n".join(table(records, rss.peak)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
