"""Server-side time of the app's interactions, through Streamlit's AppTest (no browser, no network).

    .venv/bin/python -m bench.app [--repeats 5]

Measures, in one fresh process: the cold start to the first chart (app entry + Contexts page: sampling,
the closed forms, compiling), then warm interactions: drawing a new context, switching d, and re-rendering
the Weights page of a run. Client-side interactions (moving the query, the model whose attention is shown,
the training-step slider, rotating the sphere) run in the browser's Vega and cost the server nothing:
`bench/browser.py` measures them in a real browser.
A tiny run is trained into a temporary runs/ folder first so the Weights page has something to show.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    from streamlit.testing.v1 import AppTest

    from engine.runtime import device_summary, enable_compilation_cache
    from engine.train import TrainConfig, train
    from ui import run_index

    enable_compilation_cache()
    imports = time.perf_counter() - t0
    print(f"device: {device_summary()}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
    run_index.PRETRAINED, run_index.USER_RUNS = tmp / "pretrained", tmp / "runs"
    run_index.PRETRAINED.mkdir()

    app = str(ROOT / "app.py")
    rows: list[tuple[str, list[float]]] = []

    at = AppTest.from_file(app, default_timeout=600)
    cold = timed(lambda: at.run()) + timed(lambda: at.switch_page("pages/contexts.py").run())
    assert not at.exception, [e.value for e in at.exception]
    assert at.get("vega_lite_chart"), "no chart on the Contexts page"
    rows.append(("cold start to first chart (Contexts, d=2)", [imports + cold]))

    def new_context() -> None:
        next(b for b in at.button if b.label == "New context").click().run()

    new_context()  # the first one compiles nothing new but fills the caches for a new seed
    rows.append(("new context (resample, d=2)", [timed(new_context) for _ in range(args.repeats)]))

    rows.append(("switch to d=3 (sphere), then back", [timed(lambda v=v: at.number_input(key="d").set_value(v).run())
                                                       for v in (3, 2) * ((args.repeats + 1) // 2)]))

    train(TrainConfig(kind="softmax", d=2, C=5, n=100, batch=64, steps=60, eval_every=20, eval_contexts=128,
                      align_contexts=32, fit_contexts=1000, max_snapshots=8), run_index.USER_RUNS / "bench")
    at.switch_page("pages/weights.py").run()
    assert not at.exception, [e.value for e in at.exception]
    rows.append(("Weights page rerun (run loaded, all charts)", [timed(lambda: at.run()) for _ in range(args.repeats)]))

    print(f"\nkernel-icl explorer, server-side time per interaction (AppTest, {args.repeats} repeats)\n")
    print(f"{'interaction':48s} {'median':>9s} {'min':>9s} {'max':>9s}")
    for name, ts in rows:
        print(f"{name:48s} {statistics.median(ts) * 1e3:8.0f}ms {min(ts) * 1e3:8.0f}ms {max(ts) * 1e3:8.0f}ms")
    print(f"{'query moves, model shown, training-step slider':48s} {'client-side (Vega): bench/browser.py':>29s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
