"""The app server's memory after a researcher's walk through every page, in a real browser.

    .venv/bin/python -m bench.memory [--rounds 1]

Starts `streamlit run app.py` on a free port, opens the views a researcher opens in one sitting (every page;
Contexts at d = 2, 3, 5, 10 and several seeds; Compare and Weights for every shipped run, one beside another;
every closed form's landscape; every talk slide) in headless Chromium, and prints the server's resident memory
(VmRSS and its peak, VmHWM, from /proc) after each group of views. `--rounds 2` walks twice: memory that keeps
growing on the second round is unbounded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, _free_port, _wait_healthy, settle  # noqa: E402

RUNS = sorted(p.name for p in (ROOT / "pretrained").iterdir() if (p / "config.json").is_file())
WALK = {
    "home, science, train": ["", "science", "train"],
    "contexts": [f"contexts?d={d}&seed={s}" for d in (2, 3, 5, 10) for s in (0, 1, 2)],
    "compare": [f"compare?run=pretrained/{r}" for r in RUNS],
    "weights": [f"weights?run=pretrained/{r}" for r in RUNS] + [
        "weights?run=pretrained/fast-softmax-d3&beside=pretrained/fast-softmax-d10"],
    "strategies, landscapes": ["strategies"] + [f"landscapes?d={d}" for d in (2, 3, 5, 10)],
    "talk": [f"talk?slide={k}" for k in range(1, 11)],
}


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
                             "true", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(port, proc)
        base = f"http://127.0.0.1:{port}"
        print(f"server started: RSS {rss_mb(proc.pid)[0]:.0f} MB")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 2600})
            for rnd in range(1, args.rounds + 1):
                for group, urls in WALK.items():
                    t = time.perf_counter()
                    for url in urls:
                        page.goto(f"{base}/{url}", wait_until="domcontentloaded")
                        settle(page)
                    rss, peak = rss_mb(proc.pid)
                    print(f"round {rnd}, {group:<24} {len(urls):>2} views in {time.perf_counter() - t:5.1f} s: "
                          f"RSS {rss:6.0f} MB (peak {peak:6.0f} MB)", flush=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
