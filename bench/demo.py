"""A speaker's live demo, timed in a real browser: the Train page of a warmed-up server, a demo preset chosen,
Start clicked; seconds from the click to the first evaluation within 1% of the closed form's optimum, and to the
verdict on the page ("Converged." or "Not converged."). Headless Chromium (playwright, /usr/bin/chromium).

    .venv/bin/python -m bench.demo [--baseline REV] [--presets demo-softmax-d3 demo-linear-d2]

Each checkout (this one, and with `--baseline` the app of that git revision in a temporary worktree, served the
same way in the same run) is started with an empty JAX compilation cache and its background warm-up, which the
bench waits for. Within 1%: the
click time plus the run's own clock (history.json's elapsed_s of the first evaluation within 1%, counted back
from the verdict's), so both checkouts are measured alike; this checkout also shows it on the page, in the
progress text, which is timed too. Goals: demo-softmax-d3 within 1% <= 15 s and its verdict <= 25 s;
demo-linear-d2's verdict <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench._baseline import checkouts
from bench.browser import ARGS, CHROMIUM, ROOT, served, settle, wait_warm

GOALS = {"demo-softmax-d3": (15.0, 25.0), "demo-linear-d2": (None, 5.0)}  # within 1%, verdict (seconds)
VERDICT = re.compile(r"^(Not converged|Converged)\.")


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
        # A finished job's panel stays on the page (the registry is the server's): count only what the new run adds.
        verdicts, withins = page.get_by_text(VERDICT).count(), page.get_by_text("(within 1%)", exact=False).count()
        page.get_by_role("button", name="Start training").click()
        clicked = time.perf_counter()
        shown = None
        deadline = clicked + 300
        while time.perf_counter() < deadline:
            if shown is None and page.get_by_text("(within 1%)", exact=False).count() > withins:
                shown = time.perf_counter() - clicked
            if page.get_by_text(VERDICT).count() > verdicts:
                break
            page.wait_for_timeout(100)
        verdict_s = time.perf_counter() - clicked
        text = page.get_by_text(VERDICT).first.inner_text()  # the new job's panel is drawn first
        hit, end = first_within(root / "runs" / name)
        return {"verdict_s": verdict_s, "within_s": None if hit is None else verdict_s - (end - hit),
                "shown_s": shown, "converged": text.startswith("Converged")}
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
    print(f"{'checkout':24s} {'preset':16s} {'within 1%':>10s} {'on page':>8s} {'verdict':>8s} {'converged':>9s}"
          f"  goals (s)")
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
                          f"{fmt(r['verdict_s']):>8s} {'yes' if r['converged'] else 'no':>9s}  "
                          f"{GOALS.get(preset, ('-', '-'))}", flush=True)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
