"""What the AppTest files share: opening a page from the entry point, reading its charts with their data,
waiting on a worker thread, and a stand-in for the training function."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import altair as alt
import numpy as np
import pyarrow as pa
from streamlit.testing.v1 import AppTest

from ui import query_charts

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 180


def open_app(page: str | None = None, **state) -> AppTest:
    """The app from its entry point (session state set first), switched to `pages/<page>.py`."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_link(page: str, **params) -> AppTest:
    """The app opened at `/<page>?<params>`, as a link or a reload does: query parameters first, then the entry
    point, then the page."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({k: str(v) for k, v in params.items()})
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    return at


def charts_of(at: AppTest) -> list[dict]:
    """Each chart's spec with its datasets (Streamlit ships named datasets beside the spec, as Arrow), linted on
    the way: every dataset a layer reads is defined where Vega-Lite reads it (`ui.specs.dataset_problems`; one
    left inside a concatenated part draws nothing and raises no error), so every page test checks its charts."""
    from ui.specs import dataset_problems

    out = []
    for el in at.get("vega_lite_chart"):
        spec = json.loads(el.proto.spec)
        spec["datasets"] = {ds.name: pa.ipc.open_stream(ds.data.data).read_all().to_pylist()
                            for ds in el.proto.datasets}
        assert dataset_problems(spec) == [], dataset_problems(spec)
        out.append(spec)
    return out


def wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def watch_job(at, job, timeout: float = 240.0) -> bool:
    """Rerun the page (the polling fragment's tick) until it shows a progress bar or the job ends, then wait
    for the job without rerunning the page. Returns whether a progress bar was shown."""
    deadline, seen_progress = time.time() + timeout, False
    while job.active and not seen_progress:
        assert time.time() < deadline, "no progress shown"
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        seen_progress = len(at.get("progress")) > 0
        time.sleep(0.5)
    wait_for(lambda: not job.active, timeout=max(1.0, deadline - time.time()))
    return seen_progress


def fake_trainer(steps: int = 400, dt: float = 0.002, write_every: int = 0):
    """Stands in for engine.train.train: reports progress until done or stopped. With `write_every`, it also
    writes the run's history.json as the real trainer does (an evaluation and an A/B snapshot every
    `write_every` steps: the construction's pattern at constants growing with the step)."""
    from engine.runs import write_json

    @dataclasses.dataclass
    class FakeRun:
        status: str
        verdict: dict
        message: str

    def snapshot(config, step: int) -> dict:
        c = 0.01 * step
        A = np.diag([c] * config.d + [0.0] * config.C)
        B = np.diag([0.0] * config.d + [c] * config.C)
        return {"step": step, "A": A.tolist(), "B": B.tolist()}

    def run(config, path, *, resume=False, on_progress=None, stop_event=None):
        history = {"evals": [], "snapshots": [], "yardsticks": {}}
        if write_every:
            write_json(Path(path) / "config.json", config.to_dict())
        for step in range(1, steps + 1):
            if stop_event is not None and stop_event.is_set():
                return FakeRun("stopped", {}, f"stopped at step {step}")
            time.sleep(dt)
            row = {"step": step, "eval_loss": 1.0 / step, "train_loss": 1.0 / step, "c_sigma": 0.01 * step,
                   "c_eta": 0.01 * step}
            if write_every and step % write_every == 0:
                history["evals"].append(row)
                history["snapshots"].append(snapshot(config, step))
                write_json(Path(path) / "history.json", history)
            on_progress({"step": step, "steps": steps, "eval": row, "verdict": {}, "yardstick_loss": 0.1,
                         "elapsed_s": step * dt})
        return FakeRun("finished", {"converged": True, "message": "ok"}, "")

    return run


def shown_probabilities(spec: dict, start: tuple) -> dict:
    """P(true class) of every learner in the page's query view with the query at `start` (vegafusion evaluates
    the chart's own transforms, as the browser would)."""
    d = len(start) + 1
    names = list(dict.fromkeys(r["model"] for r in spec["datasets"]["rows"]))
    C = int(max(r["class"] for r in spec["datasets"]["rows"]))
    protos = [[float(t.split(" * ")[0]) for t in p["expr"].split(" + ")] for p in spec["params"]
              if p["name"].startswith("qd")]
    chart = query_charts.probability_transforms(alt.Chart(alt.NamedData("rows")), d, C).mark_point().encode(
        x="model:N").add_params(*query_charts.query_params(d, start, names, names[0]),
                                *query_charts.truth_params(C, np.asarray(protos)))
    got = chart.properties(datasets=spec["datasets"]).transformed_data()
    return got.groupby("model")["p_true"].first().to_dict()
