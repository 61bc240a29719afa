"""Every page through Streamlit's AppTest: renders on defaults, reacts to its main controls, and reports bad
input with st.error instead of a traceback. Sizes are kept small: the app's logic is under test here, the
science in the engine's tests."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from engine.config import PRESETS, TrainConfig
from engine.train import train
from tests.app_support import charts_of, fake_trainer, shown_probabilities, wait_for, watch_job
from tests.app_support import open_app as app
from ui import jobs, loaders, run_index, train_panels

TINY = TrainConfig(kind="softmax", d=2, C=5, n=100, batch=32, steps=20, eval_every=10, eval_contexts=64,
                   align_contexts=16, fit_contexts=256, max_snapshots=5, schedule="constant", warmup=0, lr=1e-2)


@pytest.fixture(scope="module", autouse=True)
def run_roots(tmp_path_factory):
    """Empty pretrained/ and runs/ folders of the test's own, and a fit cache of its own."""
    root = tmp_path_factory.mktemp("roots")
    pre, user = root / "pretrained", root / "runs"
    pre.mkdir()
    user.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setattr(run_index, "PRETRAINED", pre)
    mp.setattr(run_index, "USER_RUNS", user)
    mp.setenv("KICL_FIT_CACHE", str(root / "fits"))
    yield pre, user
    mp.undo()


@pytest.fixture(scope="module")
def runs(run_roots):
    """A tiny finished softmax run, a diverged copy of it, and a folder whose config is not JSON."""
    _, user = run_roots
    train(TINY, user / "tiny")
    shutil.copytree(user / "tiny", user / "tiny-diverged")
    status = json.loads((user / "tiny-diverged" / "status.json").read_text())
    status.update(status="diverged", message="the loss became NaN between steps 10 and 20.")
    (user / "tiny-diverged" / "status.json").write_text(json.dumps(status))
    (user / "zz-broken").mkdir()
    (user / "zz-broken" / "config.json").write_text("{not json")
    return {e.name: f"runs/{e.name}" for e in run_index.entries()}


def errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


# ---------------------------------------------------------------- Home


def test_home_tells_the_story_and_falls_back() -> None:
    at = app()
    text = " ".join(m.value for m in at.markdown)
    assert "The claim" in text and "Contexts" in text and "Landscapes" in text
    assert any("constructions at fitted constants" in i.value for i in at.info)


# ---------------------------------------------------------------- Contexts


def test_contexts_circle_moves_the_query() -> None:
    at = app("contexts")
    assert any("construction at fitted constants" in i.value for i in at.info)  # no runs: constructions, said so
    specs = charts_of(at)
    assert len(specs) == 2  # the query view (context, attention, probabilities), decision regions of the four models
    view = specs[0]
    bound = {p["name"]: p for p in view["params"] if "bind" in p}
    assert bound["query"]["bind"]["input"] == "range" and bound["attention_of"]["bind"]["options"] == [
        "linear SA", "softmax SA", "GD (eq. 2)", "eq. 1"]
    p_before = shown_probabilities(view, (bound["query"]["value"],))
    p_after = shown_probabilities(view, ((bound["query"]["value"] + 150) % 360,))
    assert set(p_before) == set(bound["attention_of"]["bind"]["options"]) and p_after != p_before


def test_contexts_sphere_and_higher_d() -> None:
    at = app("contexts")
    at.number_input(key="d").set_value(3).run()
    assert not at.exception
    view = charts_of(at)[0]
    assert "orthographic" in json.dumps(view) and {"query_lon", "query_lat"} <= {p["name"] for p in view["params"]}
    lon = next(p for p in view["params"] if p["name"] == "query_lon")["value"]
    lat = next(p for p in view["params"] if p["name"] == "query_lat")["value"]
    moved = (lon + 90 if lon < 90 else lon - 90, lat)
    assert shown_probabilities(view, (lon, lat)) != shown_probabilities(view, moved)
    at.number_input(key="d").set_value(5).run()
    assert not at.exception
    assert "cosine" in json.dumps(charts_of(at)[0])
    before = charts_of(at)[0]
    p_before = at.dataframe[0].value["P(true class)"].tolist()
    at.button[[b.label for b in at.button].index("Resample the query")].click().run()
    assert not at.exception and charts_of(at)[0] != before
    assert at.dataframe[0].value["P(true class)"].tolist() != p_before
    at.radio(key="ctx_model").set_value("GD (eq. 2)").run()
    assert "GD (eq. 2): attention" in json.dumps(charts_of(at)[0])


def test_contexts_bad_task_says_what_to_change() -> None:
    at = app("contexts")
    at.number_input(key="n").set_value(101).run()
    assert not at.exception
    assert "divisible by C" in errors(at) and "n=100" in errors(at)
    assert not charts_of(at)
    at.number_input(key="n").set_value(100)
    at.number_input(key="d").set_value(1).run()
    assert not at.exception and "d must be at least 2" in errors(at)


# ---------------------------------------------------------------- Compare


def test_compare_construction_against_closed_forms() -> None:
    at = app("compare", N=100)
    metrics = {m.label: m.value for m in at.metric}
    assert {"preds diff", "cos sim", "model diff"} <= set(metrics)
    assert float(metrics["preds diff"]) < 1e-3  # the construction computes its closed form exactly
    spec = charts_of(at)[0]
    assert len(spec["hconcat"]) == 3
    next(sb for sb in at.selectbox if sb.label == "Against").set_value("gd").run()
    assert not at.exception
    assert float({m.label: m.value for m in at.metric}["preds diff"]) > 1e-3


def test_compare_runs_readable_and_not(runs) -> None:
    at = app("compare", N=100)
    assert at.radio(key="source").value == "a trained run"
    at.selectbox(key="run").set_value(runs["tiny"]).run()
    assert not at.exception and not at.error
    assert len(charts_of(at)) == 1
    at.selectbox(key="run").set_value(runs["zz-broken"]).run()
    assert not at.exception and "cannot be read" in errors(at)
    at.selectbox(key="run").set_value(runs["tiny-diverged"]).run()
    assert not at.exception and "diverged" in errors(at)


# ---------------------------------------------------------------- Landscapes


def test_landscapes_heatmap_then_line() -> None:
    at = app("landscapes")
    spec = json.dumps(charts_of(at)[0])
    assert '"type": "log"' in spec and "c_sigma" in spec and "refined" in spec
    at.radio(key="land_method").set_value("gd").run()
    assert not at.exception
    spec = charts_of(at)[0]
    assert "eta" in json.dumps(spec) and "c_sigma" not in json.dumps(spec)
    at.number_input(key="C").set_value(7).run()
    assert not at.exception and "divisible by C" in errors(at)


# ---------------------------------------------------------------- Weights


def test_weights_of_a_run(runs) -> None:
    at = app("weights")
    at.selectbox(key="run").set_value(runs["tiny"]).run()
    assert not at.exception and not at.error
    specs = json.dumps(charts_of(at))
    assert '"name": "snapshot"' in specs  # A and B with the step slider
    assert "c_sigma" in specs and "factor on the extracted value" in specs
    labels = {m.label for m in at.metric}
    assert {"c_sigma (extracted)", "c_eta (extracted)", "algorithm"} <= labels
    assert not [b for b in at.button if (b.key or "").endswith("_play")]  # Play runs in the browser, not here
    at.selectbox(key="run").set_value(runs["tiny-diverged"]).run()
    assert not at.exception and "diverged" in errors(at)
    at.selectbox(key="run").set_value(runs["zz-broken"]).run()
    assert not at.exception and "cannot be read" in errors(at)


# ---------------------------------------------------------------- Train


def test_train_bad_config_and_name() -> None:
    at = app("train")
    preset = at.selectbox(key="train_preset").value
    at.number_input(key=f"tn_{preset}").set_value(101).run()
    assert not at.exception and "divisible by C" in errors(at)
    at.number_input(key=f"tn_{preset}").set_value(100).run()
    at.text_input(key="train_name").set_value("../escape").run()
    assert not at.exception and "letters, digits" in errors(at)


def test_train_start_progress_verdict(run_roots, runs, monkeypatch) -> None:
    """Start a run from a preset on the page, watch its progress, read its verdict: the real trainer, tiny sizes."""
    _, user = run_roots
    monkeypatch.setitem(PRESETS, "fast-tiny", dataclasses.replace(TINY, preset="fast-tiny"))
    at = app("train", train_preset="fast-tiny")
    at.text_input(key="train_name").set_value("ui-test").run()
    at.button(key="train_start").click().run()
    assert not at.exception
    job = loaders.job_registry().jobs["ui-test"]
    assert watch_job(at, job)
    assert job.state == "finished", job.message + job.detail
    at.run()
    verdicts = [e.value for e in (*at.success, *at.warning)]
    assert any("onverged" in v for v in verdicts)
    # The outcome comes first in the job's panel, above its curves and weights (drawn before their final charts)
    shown = [n for n in at.main if n.type == "vega_lite_chart" or "onverged. " in str(getattr(n, "value", ""))]
    assert "onverged. " in str(getattr(shown[0], "value", "")) and len(shown) >= 3, [n.type for n in shown]
    assert (user / "ui-test" / "status.json").exists()
    assert any(e.name == "ui-test" for e in run_index.entries())


# ---------------------------------------------------------------- jobs: the worker thread and the queue


def test_jobs_one_at_a_time_queue_stop_and_cancel(tmp_path) -> None:
    """The first job trains until the test stops it (its stop event), so the others can only wait; each waits for
    the slot (refused at least once, seen through the slot) before the test asserts that they are still queued."""
    from pathlib import Path

    from tests.test_jobs import WatchedSlots  # the registry's slot, telling which worker has been refused it

    until_stopped, short = fake_trainer(steps=10**6), fake_trainer()

    def trainer(config, path, **kw):
        return (until_stopped if Path(path).name == "a" else short)(config, path, **kw)

    reg = jobs.JobRegistry(parallel=1, trainer=trainer)
    reg.slots = WatchedSlots(1)
    cfg = TrainConfig(steps=400)
    first = reg.submit(cfg, tmp_path / "a")
    wait_for(lambda: first.view()["step"] >= 2)
    second = reg.submit(cfg, tmp_path / "b")
    third = reg.submit(cfg, tmp_path / "c")
    assert reg.slots.refused["train-b"].wait(10) and reg.slots.refused["train-c"].wait(10)
    assert second.state == "queued" and third.state == "queued" and first.state == "running"
    assert reg.queue_position(second) == 1 and reg.queue_position(third) == 2
    with pytest.raises(ValueError, match="already training"):
        reg.submit(cfg, tmp_path / "a")
    view = first.view()
    assert view["step"] > 0 and view["evals"] and view["eta_s"] is not None
    third.stop.set()  # cancelled while waiting
    first.stop.set()
    wait_for(lambda: first.state == "stopped" and third.state == "stopped")
    assert third.message == "cancelled while queued"
    wait_for(lambda: second.state in ("running", "finished"))
    wait_for(lambda: second.state == "finished", timeout=30)
    assert second.verdict["converged"] and not reg.active()


def test_jobs_failure_is_reported_not_raised(tmp_path) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    reg = jobs.JobRegistry(trainer=broken)
    job = reg.submit(TrainConfig(), tmp_path / "x")
    wait_for(lambda: job.view()["state"] not in jobs.ACTIVE)
    view = job.view()
    assert view["state"] == "failed" and "boom" in view["message"] and "RuntimeError" in view["detail"]
    assert reg.slots.acquire(timeout=1)  # the slot was given back



@pytest.mark.parametrize("every_s", [0.0, 3600.0])
def test_train_shows_the_weights_forming_live(monkeypatch, every_s) -> None:
    """While a job runs, the Train page draws A and B of its latest snapshot over its path so far, and the polling
    fragment moves them on as the trainer writes (a stand-in trainer writing history.json as the real one does), at
    most every LIVE_WEIGHTS_S (building the chart costs the trainer a core): held in between, drawn in full once the
    job stops."""
    monkeypatch.setattr(train_panels, "LIVE_WEIGHTS_S", every_s)
    monkeypatch.setattr(loaders.job_registry(), "_trainer", fake_trainer(steps=100_000, dt=0.002, write_every=50))
    at = app("train")
    name = f"ui-live-{every_s:g}"
    at.text_input(key="train_name").set_value(name).run()
    at.button(key="train_start").click().run()
    job = loaders.job_registry().jobs[name]

    def live_chart():
        at.run()
        return next((s for s in charts_of(at) if "A = W_Q^T W_K" in json.dumps(s)), None)

    def shown_steps(spec) -> set[int]:
        return {r["step"] for d in spec["datasets"].values() for r in d if "matrix" in r}

    wait_for(lambda: job.view()["step"] >= 100)
    first = live_chart()
    assert first is not None and not at.exception
    (step1,) = shown_steps(first)  # one snapshot: the latest written
    path1 = max((d for d in first["datasets"].values() if d and "on_axes" in d[0]), key=len)
    assert [r["step"] for r in path1] == list(range(50, step1 + 1, 50))  # the path so far, one point per snapshot
    wait_for(lambda: job.view()["step"] >= step1 + 200)
    (step2,) = shown_steps(live_chart())
    assert step2 > step1 if every_s == 0 else step2 == step1
    job.stop.set()
    wait_for(lambda: job.view()["state"] == "stopped")
    (step3,) = shown_steps(live_chart())
    assert step3 >= step1 + 200


def test_train_stop_button(monkeypatch) -> None:
    """Stop from the page: the worker honours it and the panel says so (a stand-in trainer keeps it quick)."""
    monkeypatch.setattr(loaders.job_registry(), "_trainer", fake_trainer(steps=100_000, dt=0.005))
    at = app("train")
    at.text_input(key="train_name").set_value("ui-stop").run()
    at.button(key="train_start").click().run()
    job = loaders.job_registry().jobs["ui-stop"]
    wait_for(lambda: job.view()["step"] > 0)
    at.run()
    assert len(at.get("progress")) > 0
    at.button(key="stop_ui-stop").click().run()
    wait_for(lambda: job.view()["state"] == "stopped")
    at.run()
    assert not at.exception and any("Stopped at step" in i.value for i in at.info)
