"""A speaker's live demo, timed in a real browser: the Train page of a warmed-up server, a demo preset chosen,
Start clicked; seconds from the click to the first evaluation within 1% of the closed form's optimum, and to the
verdict on the page ("Converged." or "Not converged."). Headless Chromium (playwright, /usr/bin/chromium).

    .venv/bin/python -m bench.demo [--baseline REV] [--presets demo-softmax-d3 demo-linear-d2]

Each checkout (this one, and with `--baseline` the app of that git revision in a temporary worktree, served the
same way in the same run) is started with an empty JAX compilation cache and its background warm-up, which the
bench waits for. Within 1%: the
click time plus the run's own clock (history.json's elapsed_s of the first evaluation within 1%, counted back
from the verdict's), so both checkouts are measured alike; this checkout also shows it on the page, in the
progress text, which is timed too. "To train": from the click to the start of `engine.train.train` (its
config.json written); "in train": the run's own clock from there to its last evaluation; the rest of the verdict's
time is the page's poll and its drawing.
Goals: demo-softmax-d3 within 1% <= 15 s and its verdict <= 25 s;
demo-linear-d2's verdict <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench._baseline import checkouts
from bench.browser import ARGS, CHROMIUM, ROOT, served, settle, wait_warm

GOALS = {"demo-softmax-d3": (15.0, 25.0), "demo-linear-d2": (None, 5.0)}  # within 1%, verdict (seconds)
WATCH = """(name) => {
  const bars = '[data-testid="stProgress"]';
  const verdict = t => /^(Not converged|Converged)\\. /.test(t);
  const seen = window.__demo = {clicked: null, clicked_wall: null, within: null, verdict: null, text: null};
  document.addEventListener('click', () => { seen.clicked = performance.now(); seen.clicked_wall = Date.now() / 1000; },
                            {capture: true, once: true});
  const obs = new MutationObserver(() => {
    if (seen.clicked === null) return;
    const title = Array.from(document.querySelectorAll('[data-testid="stMarkdown"]')).find(
        m => m.textContent.includes(name + ' ('));
    let panel = title;  // the run's panel: the title's first ancestor that holds a progress bar
    while (panel && !panel.querySelector(bars)) panel = panel.parentElement;
    if (!panel) return;
    const now = performance.now();
    if (seen.within === null && panel.querySelector(bars).textContent.includes('(within 1%)')) seen.within = now;
    const done = Array.from(panel.querySelectorAll('[data-testid="stAlert"]')).find(a => verdict(a.textContent.trim()));
    if (done && title.textContent.includes('): finished')) {
      seen.verdict = now;
      seen.text = done.textContent.trim();
      obs.disconnect();
    }
  });
  obs.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""  # in the page's own clock: the click, then in the new run's own panel (found by its title, which holds the run's
# name and state) the first progress text within 1% and the verdict once the run has finished


def first_within(run_dir: Path) -> tuple[float | None, float]:
    """(elapsed_s of the first evaluation within 1% of the yardstick, elapsed_s of the last) from the run."""
    history = json.loads((run_dir / "history.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    kind, qik = config["kind"], config.get("query_in_keys", False)
    method = "gd" if kind == "linear" else ("adaptive_self_key" if qik else "adaptive")
    yard = history["yardsticks"][method]["loss"]
    evals = history["evals"]
    hit = next((e["elapsed_s"] for e in evals if (e["eval_loss"] - yard) / yard <= 0.01), None)
    return hit, evals[-1]["elapsed_s"]


def demo(browser, url: str, root: Path, preset: str) -> dict:
    """Starts `preset` on the Train page and times it; the run folder is removed afterwards."""
    name = f"bench-{preset}-{int(time.time())}"
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(f"{url}/train", wait_until="domcontentloaded")
        settle(page)
        chooser = page.get_by_role("combobox", name="Preset")
        if chooser.input_value() != preset:  # the page's default preset is already chosen
            chooser.click()
            page.get_by_role("option", name=preset, exact=True).click()
        settle(page)
        page.get_by_label("Run name (a folder in runs/)").fill(name)
        page.keyboard.press("Enter")
        settle(page)
        # Watched in the page's own clock by a MutationObserver, so that the bench's polling costs the page (and the
        # server on the same 2 cores) next to nothing. Earlier jobs' panels stay on the page (the registry is the
        # server's), and a panel's places are drawn over one by one: only the new run's panel counts.
        page.evaluate(WATCH, name)
        page.get_by_role("button", name="Start training").click()
        deadline = time.perf_counter() + 300
        seen = {}
        while time.perf_counter() < deadline:
            seen = page.evaluate("window.__demo")
            if seen.get("verdict") is not None:
                break
            page.wait_for_timeout(500)
        verdict_s = (seen["verdict"] - seen["clicked"]) / 1000
        shown = None if seen.get("within") is None else (seen["within"] - seen["clicked"]) / 1000
        text = seen["text"]
        hit, end = first_within(root / "runs" / name)
        started = (root / "runs" / name / "config.json").stat().st_mtime - seen["clicked_wall"]  # train() began
        return {"verdict_s": verdict_s, "within_s": None if hit is None else verdict_s - (end - hit),
                "shown_s": shown, "run_s": end, "start_s": started, "converged": text.startswith("Converged")}
    finally:
        page.close()
        shutil.rmtree(root / "runs" / name, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", help="git revision whose app is timed the same way in the same run")
    ap.add_argument("--presets", nargs="+", default=list(GOALS))
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from engine.runtime import device_summary

    print(f"device: {device_summary()} (server); browser: headless Chromium", flush=True)
    print(f"{'checkout':24s} {'preset':16s} {'within 1%':>10s} {'on page':>8s} {'verdict':>8s} "
          f"{'to train':>8s} {'in train':>8s} {'converged':>9s}  goals (s)")
    with checkouts(args.baseline) as roots, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for label, root in roots:
            cache = tempfile.mkdtemp(prefix="bench-jax-cache-")  # both start cold, as on a fresh machine
            with served(root, env={"KICL_JAX_CACHE": cache}) as server:
                first = browser.new_page()  # a first session starts the app's warm-up
                first.goto(f"{server.url}/train", wait_until="domcontentloaded")
                settle(first)
                first.close()
                print(f"{label}: {wait_warm(server, timeout=300)}", flush=True)
                for preset in args.presets:
                    r = demo(browser, server.url, root, preset)
                    fmt = lambda s: "never" if s is None else f"{s:.1f} s"  # noqa: E731
                    print(f"{label:24s} {preset:16s} {fmt(r['within_s']):>10s} {fmt(r['shown_s']):>8s} "
                          f"{fmt(r['verdict_s']):>8s} {fmt(r['start_s']):>8s} {fmt(r['run_s']):>8s} "
                          f"{'yes' if r['converged'] else 'no':>9s}  "
                          f"{GOALS.get(preset, ('-', '-'))}", flush=True)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
