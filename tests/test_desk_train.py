"""The Train page: what a changed preset is saved as, what a taken name says, a new job's panel from its first
poll, and Stop while a job prepares. Stand-in trainers keep it quick; run folders go to a temporary runs/."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest

from engine.config import TrainConfig
from tests.app_support import fake_trainer, open_app, wait_for
from ui import jobs, loaders


@pytest.fixture(autouse=True)
def roots(empty_roots, monkeypatch):
    """Empty pretrained/ and runs/ of the test's own, and a registry with no jobs from other tests."""
    monkeypatch.setattr(loaders.job_registry(), "jobs", {})
    return empty_roots[1]


@dataclasses.dataclass
class FakeRun:
    status: str
    verdict: dict
    message: str


def preparing_trainer(prepared: threading.Event, calls: list | None = None):
    """Like engine.train.train: a preparation (fitting, compiling) that cannot be cut short, here until `prepared`
    is set, then the stop check before the first step."""
    def run(config, path, *, resume=False, on_progress=None, stop_event=None):
        if calls is not None:
            calls.append(path)
        prepared.wait(60)
        if stop_event is not None and stop_event.is_set():
            return FakeRun("stopped", {}, "stopped at step 0")
        on_progress({"step": config.steps, "steps": config.steps, "eval": None, "verdict": {}})
        return FakeRun("finished", {"converged": True, "message": "ok"}, "")
    return run


def errors(at) -> str:
    return " ".join(e.value for e in at.error)


# ---------------------------------------------------------------- 1: the preset a run is saved as


def test_a_changed_recipe_is_saved_as_custom(roots, monkeypatch) -> None:
    monkeypatch.setattr(loaders.job_registry(), "_trainer", fake_trainer(steps=20, dt=0.001, write_every=10))
    at = open_app("train", train_preset="demo-linear-d2")
    assert at.text_input(key="train_name").value.startswith("demo-linear-d2-")
    assert not any("Saved as preset" in c.value for c in at.caption)
    at.number_input(key="tseed_demo-linear-d2").set_value(7).run()  # another seed: still the preset's recipe
    assert at.text_input(key="train_name").value.startswith("demo-linear-d2-")
    at.selectbox(key="tk_demo-linear-d2").set_value("softmax")
    at.number_input(key="td_demo-linear-d2").set_value(4).run()
    assert not at.exception
    assert any("Saved as preset **custom**: kind, d differ from demo-linear-d2" in c.value for c in at.caption)
    name = at.text_input(key="train_name").value
    assert name.startswith("custom-")  # the name follows what the run will be saved as
    at.button(key="train_start").click().run()
    job = loaders.job_registry().jobs[name]
    wait_for(lambda: not job.active, timeout=30)
    saved = json.loads((roots / name / "config.json").read_text())
    assert (saved["preset"], saved["kind"], saved["d"], saved["seed"]) == ("custom", "softmax", 4, 7)
    at.run()
    assert at.text_input(key="train_name").value.startswith("custom-")  # the next run's name: the same recipe


# ---------------------------------------------------------------- 6: a name that is taken


def test_a_taken_name_says_what_is_there(roots) -> None:
    config = TrainConfig(kind="linear", d=2).to_dict()
    for name, status in (("done", {"status": "finished", "verdict": {"converged": True, "step": 600}}),
                         ("halted", {"status": "stopped", "verdict": {"step": 40}})):
        (roots / name).mkdir()
        (roots / name / "config.json").write_text(json.dumps(config))
        (roots / name / "status.json").write_text(json.dumps(status))
    (roots / "junk").mkdir()
    at = open_app("train")
    at.text_input(key="train_name").set_value("done").run()
    assert "runs/done is finished: choose another name, or open it on the Weights or Compare page" in errors(at)
    assert "resume" not in errors(at).lower()
    assert not any(b.key == "resume_done" for b in at.button)  # indeed none to press
    at.text_input(key="train_name").set_value("halted").run()
    assert "was stopped at step 40: resume it under Your runs" in errors(at)
    assert any(b.key == "resume_halted" for b in at.button)
    at.text_input(key="train_name").set_value("junk").run()
    assert "runs/junk exists already" in errors(at) and "resume" not in errors(at).lower()


# ---------------------------------------------------------------- 2: a new job's panel, and Stop while preparing


def panels(at) -> list:
    """The job panels of the Training section (the bordered containers), newest first."""
    found = []

    def walk(block) -> None:
        for child in getattr(block, "children", {}).values():
            if getattr(child, "type", None) == "flex_container" and child.proto.flex_container.border:
                found.append(child)
            else:
                walk(child)

    walk(at.main)
    return found


def shown_text(block) -> str:
    out = []

    def walk(node) -> None:
        for attr in ("value", "body"):
            v = getattr(getattr(node, "proto", None), attr, None)
            if isinstance(v, str):
                out.append(v)
        if getattr(node, "type", None) == "progress":
            out.append(node.proto.text)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(block)
    return " ".join(out)


def test_a_new_job_shows_its_own_state_from_the_first_poll(roots, monkeypatch) -> None:
    """A browser keeps what a replaced container held until each of its places is drawn over: the new job's panel,
    drawn where the finished job's was, must draw (or empty) every place that one had, or the old job's progress
    and curves show under the new title until the page's run ends."""
    registry = loaders.job_registry()
    cfg = TrainConfig(kind="linear", d=2, steps=400)
    monkeypatch.setattr(registry, "_trainer", fake_trainer(steps=400, dt=0.0005, write_every=100))
    old = registry.submit(cfg, roots / "old")
    wait_for(lambda: old.state == "finished", timeout=30)
    prepared = threading.Event()
    monkeypatch.setattr(registry, "_trainer", preparing_trainer(prepared))
    new = registry.submit(dataclasses.replace(cfg, steps=600), roots / "new")
    try:
        wait_for(lambda: new.state == "preparing")
        at = open_app("train")
        first, second = panels(at)
        assert "**new**" in shown_text(first) and "**old**" in shown_text(second)
        assert "preparing" in shown_text(first)
        assert "step 0 / 600: reading the closed-form yardstick" in shown_text(first)
        assert "400 / 400" not in shown_text(first) and "step 400 / 400" in shown_text(second)
        assert len(first.children) == len(second.children)  # every place of the old panel is drawn over
        assert len(charts := [c for c in second.children.values() if getattr(c, "children", None)]) >= 2, charts
    finally:
        prepared.set()
        wait_for(lambda: not new.active)


def test_stop_while_preparing_is_honoured_before_the_first_step(roots, monkeypatch) -> None:
    prepared = threading.Event()
    monkeypatch.setattr(loaders.job_registry(), "_trainer", preparing_trainer(prepared))
    at = open_app("train")
    at.text_input(key="train_name").set_value("prep-stop").run()
    at.button(key="train_start").click().run()
    job = loaders.job_registry().jobs["prep-stop"]
    try:
        wait_for(lambda: job.state == "preparing")
        at.button(key="stop_prep-stop").click().run()
        assert job.stop.is_set()
        text = shown_text(panels(at)[0])
        assert "prep-stop** (linear, d=2, C=5, n=100): stopping" in text
        assert "stopping as soon as the preparation ends" in text
    finally:
        prepared.set()
    wait_for(lambda: job.state == "stopped")
    assert job.message == jobs.BEFORE_FIRST_STEP
    at.run()
    assert any(i.value == "Stopped before the first step: nothing was trained." for i in at.info)
    assert not any("Stopped at step 0" in i.value for i in at.info)


def test_stop_before_the_preparation_skips_it(tmp_path) -> None:
    """The worker looks at Stop before it starts preparing (a job stopped as it got its slot never prepares)."""
    calls: list = []
    reg = jobs.JobRegistry(trainer=preparing_trainer(threading.Event(), calls))
    job = jobs.Job(name="x", path=tmp_path / "x", config=TrainConfig(), steps=10)
    job.stop.set()
    assert reg.slots.acquire(timeout=1)
    t0 = time.time()
    reg._hold(job, reg._train)
    assert calls == [] and time.time() - t0 < 1
    assert (job.state, job.message) == ("stopped", jobs.BEFORE_FIRST_STEP)
    assert reg.slots.acquire(timeout=1)  # the slot was given back


# ---------------------------------------------------------------- a read-only server


def test_read_only_train_page_says_why_and_offers_nothing_to_start(roots, monkeypatch) -> None:
    """KICL_READ_ONLY=1: the page says why it cannot train here, with no form, Start or Resume, and nothing is
    written under runs/."""
    monkeypatch.setenv("KICL_READ_ONLY", "1")
    (roots / "halted").mkdir()  # a stopped run, which would offer Resume
    (roots / "halted" / "config.json").write_text(json.dumps(TrainConfig(kind="linear", d=2).to_dict()))
    (roots / "halted" / "status.json").write_text(json.dumps({"status": "stopped", "verdict": {"step": 40}}))
    before = sorted(p.relative_to(roots) for p in roots.rglob("*"))
    at = open_app("train")
    assert not at.exception
    assert any("Training is off on this server" in i.value and "KICL_READ_ONLY=1" in i.value for i in at.info)
    keys = {b.key for b in at.button}
    assert "train_start" not in keys and "resume_halted" not in keys
    assert not any(t.key == "train_name" for t in at.text_input)
    assert sorted(p.relative_to(roots) for p in roots.rglob("*")) == before


def test_live_charts_are_sent_as_arrow_converted_once_under_stable_names() -> None:
    """A polling fragment re-sends a running job's charts unchanged between rebuilds: their datasets are Arrow
    already (Streamlit would convert rows through pandas at every poll), holding the rows the chart was built with;
    and a rebuild with more rows changes the datasets alone, not the spec (the browser then updates the drawn
    chart in place instead of embedding it again)."""
    import altair as alt
    import pandas as pd
    import pyarrow as pa

    built = []

    def build(rows):
        def chart():
            built.append(1)
            return alt.layer(alt.Chart(pd.DataFrame(rows)).mark_line().encode(x="step:Q", y="eval_loss:Q"),
                             alt.Chart(pd.DataFrame({"optimum": [0.5]})).mark_rule().encode(y="optimum:Q"))
        return chart

    def rows_of(spec):
        return {k: pa.ipc.open_stream(v).read_all().to_pylist() for k, v in spec["datasets"].items()}

    rows = [{"step": s, "eval_loss": 1.0 / (s + 1)} for s in range(5)]
    key = f"test-live|{time.time()}"
    sent = loaders.live_chart_spec(key, build(rows))
    assert loaders.live_chart_spec(key, build(rows)) is sent and built == [1]
    assert sorted(rows_of(sent).values(), key=len) == [[{"optimum": 0.5}], rows]
    more = loaders.live_chart_spec(key + "+", build(rows + [{"step": 5, "eval_loss": 0.1}]))
    assert {k: v for k, v in more.items() if k != "datasets"} == {k: v for k, v in sent.items() if k != "datasets"}
    assert rows_of(more) != rows_of(sent) and len(rows_of(more)) == 2
    layers = {json.dumps(layer["data"]) for layer in sent["layer"]}
    assert layers == {json.dumps({"name": name}) for name in sent["datasets"]}  # each layer reads its own rows


@pytest.mark.parametrize("preset", ["demo-softmax-d3", "fast-kernel-d3", "demo-linear-d2"])
def test_live_curves_fit_the_job_card(preset: str) -> None:
    """Drawn by Vega-Lite's own compiler (vl-convert), each row of a job's curves fits inside its card at 1280 px
    (the loss beside the constants a run reads off its weights, their end labels included): wider, a projector
    shows the last panel cut off at the card's edge."""
    import re
    from pathlib import Path

    import vl_convert as vlc

    from engine.config import PRESETS
    from ui import specs, train_panels

    history = json.loads((Path(__file__).resolve().parent.parent / "pretrained" / "fast-softmax-d3" /
                          "history.json").read_text())
    evals = [{**e, "sigma2": 1 / (1 + e["c_sigma"]), "eta": 10 * e["c_eta"]} for e in history["evals"]]
    for build in train_panels._curve_charts(evals, history["yardsticks"], PRESETS[preset], log_step=True):
        svg = vlc.vegalite_to_svg(json.loads(json.dumps(specs.to_spec(build()), default=str)))
        width = float(re.search(r'<svg[^>]*\bwidth="([\d.]+)"', svg).group(1))
        assert 200 < width <= train_panels.JOB_CARD_PX, width
