"""The Strategies page: Fig. 11 and its evidence, Fig. 10, the selection/elimination examples and the live sweep.

The page through AppTest on fixture CSVs (`tests/sweep_support.py`) and run folders written to temporary
pretrained/ and runs/ folders (the loaders are pointed at them); sweeps and training sharing one slot with
stand-in workers. The one real sweep is tiny (2 seeds, 20 steps, d = 2). Its chart builders are checked in
test_sweep_charts.py."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import jax.numpy as jnp
import pytest
from streamlit.testing.v1 import AppTest

from engine import constructions, figure_analysis, runs
from engine import figure_data as figures
from engine.config import TrainConfig
from engine.state import init_state
from engine.sweep import SweepResult
from tests.app_support import charts_of, fake_trainer, open_app, shown_probabilities, wait_for, watch_job
from tests.chart_support import records
from tests.sweep_support import evidence_frame, fig10_frame, fig11_frame
from ui import jobs, loaders, run_index

# ---------------------------------------------------------------- fixture data


def write_sweeps(root: Path) -> Path:
    sweeps = root / "sweeps"
    sweeps.mkdir(parents=True, exist_ok=True)
    fig11_frame().to_csv(sweeps / "fig11.csv", index=False)
    evidence_frame().to_csv(sweeps / "fig11_evidence.csv", index=False)
    fig10_frame().to_csv(sweeps / "fig10.csv", index=False)
    return root


def write_construction_run(path: Path, c_sigma: float, c_eta: float, seed: int = 0) -> None:
    """A finished fig11-* run folder whose weights are the softmax construction at (c_sigma, c_eta): positive
    constants compute selection, negative ones elimination."""
    cfg = TrainConfig(kind="softmax", d=2, C=2, n=10, steps=10, eval_every=10, seed=seed, preset="fig11-d2-C2")
    state = init_state(cfg)
    con = constructions.softmax_construction(cfg.task, c_eta, c_sigma)
    state["params"] = {k: jnp.asarray(con[k], v.dtype) for k, v in state["params"].items()}
    runs.save_state(runs.checkpoint_manager(path), cfg.steps, state)
    runs.write_json(path / "config.json", cfg.to_dict())
    runs.write_json(path / "history.json", {"evals": []})
    runs.write_json(path / "status.json", {"status": "finished", "verdict": {}, "message": ""})


@pytest.fixture(scope="module", autouse=True)
def roots(tmp_path_factory):
    """pretrained/ with the three sweep CSVs, an empty runs/; the loaders read only these."""
    root = tmp_path_factory.mktemp("strat")
    pre, user = write_sweeps(root / "pretrained"), root / "runs"
    user.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setattr(run_index, "PRETRAINED", pre)
    mp.setattr(run_index, "USER_RUNS", user)
    yield pre, user
    mp.undo()


def app(**state) -> AppTest:
    return open_app("strategies", **state)


def shown_rows(at: AppTest, title: str, field: str) -> list[dict]:
    """The data rows having `field` of the charts drawn on the page whose spec mentions `title`."""
    return [r for spec in charts_of(at) if title in json.dumps({k: v for k, v in spec.items() if k != "datasets"})
            for r in records(spec, field)]


def texts(elements) -> str:
    return " ".join(e.value for e in elements)


# ---------------------------------------------------------------- jobs: sweeps and training share one slot


def fake_sweeper(steps: int = 400, dt: float = 0.002):
    """Stands in for engine.sweep.sweep: reports after every step until done or stopped."""

    def run(config, seeds, *, on_progress=None, stop_event=None):
        seeds = list(seeds)
        configs = [dataclasses.replace(config, seed=s) for s in seeds]
        hist = [[] for _ in seeds]
        status = "finished"
        for step in range(steps + 1):
            if stop_event is not None and stop_event.is_set():
                status = "stopped"
                break
            time.sleep(dt)
            for r, h in enumerate(hist):
                h.append({"step": step, "eval_loss": 0.1, "strategy": "selection" if r % 2 == 0 else "elimination",
                          "c_sigma": (1 - 2 * (r % 2)) * 2.0, "c_eta": (1 - 2 * (r % 2)) * 3.0, "margin": 1.0})
            on_progress({"step": step, "steps": steps, "evals": [h[-1] for h in hist], "elapsed_s": step * dt})
        return SweepResult(configs, hist, [{} for _ in seeds], status, steps * dt, 1, 0)

    return run


def test_sweep_and_training_share_one_slot(tmp_path) -> None:
    """The sweep runs until the test stops it (its stop event); the run waits for the slot (refused at least once,
    seen through the slot) before the test asserts that it is still queued."""
    from tests.test_jobs import WatchedSlots  # the registry's slot, telling which worker has been refused it

    reg = jobs.JobRegistry(parallel=1, trainer=fake_trainer(steps=1, dt=0.0),
                           sweeper=fake_sweeper(steps=100_000))
    reg.slots = WatchedSlots(1)
    cfg = figures.fig11_config(2, 5, 100, 200)
    sweep_job = reg.submit_sweep(cfg, range(3), "s")
    wait_for(lambda: sweep_job.view()["step"] > 0)
    run_job = reg.submit(TrainConfig(steps=1), tmp_path / "r")
    assert reg.slots.refused["train-r"].wait(10)
    assert run_job.state == "queued" and sweep_job.state == "running" and reg.queue_position(run_job) == 1
    assert reg.all() == [run_job] and reg.latest_sweep() is sweep_job  # the Train page lists runs only
    with pytest.raises(ValueError, match="already training"):
        reg.submit_sweep(cfg, range(3), "s")
    view = sweep_job.view()
    assert [r["seed"] for r in view["runs"]] == [0, 1, 2] and view["eta_s"] is not None
    sweep_job.stop.set()
    wait_for(lambda: run_job.state == "finished")
    assert sweep_job.state == "stopped" and not reg.active()
    assert reg.slots.acquire(timeout=1)


def test_sweep_failure_is_reported_and_frees_the_slot() -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    reg = jobs.JobRegistry(sweeper=broken)
    job = reg.submit_sweep(figures.fig11_config(2, 5, 100, 200), range(2), "x")
    wait_for(lambda: not job.active)
    assert job.state == "failed" and "boom" in job.message and "RuntimeError" in job.detail
    assert reg.slots.acquire(timeout=1)


# ---------------------------------------------------------------- the page


def test_page_draws_the_shipped_figures() -> None:
    at = app()
    specs = json.dumps(charts_of(at))
    assert "varying C" in specs and "strategy at each evaluation" in specs and "c_eta (log" in specs
    captions = texts(at.caption)
    assert "4 seeds per point" in captions and "C = 3 use n = 120" in captions and "d = 2, C = 5, n = 100" in captions
    assert "times 25 and batch 256" in captions and "200 steps here stand for about 5,000" in captions
    summary = next(df.value for df in at.dataframe if "flattened_at" in df.value.columns)
    assert len(summary) == 5 and set(summary["recipe"]) == {"paper-softmax-d10", "fast-softmax-d10"}
    paths = next(c for c in charts_of(at) if "first positive step" in json.dumps(c))  # the rates on eq. 1's landscape
    drawn = {r["run"] for d in paths["datasets"].values() for r in d if "on_axes" in r and r["on_axes"]}
    assert len(drawn) == 2  # the fixture's two slower rates stay near 0, a decade below eq. 1's grid: off the axes
    assert "python -m engine train --preset fig11-d2-C2" in texts(at.info)  # no example run: how to make one
    assert not at.error and not at.warning
    at.radio(key="strat_ev_split").set_value("one per shape").run()
    assert not at.exception and "d=2 C=2 n=100" in json.dumps(charts_of(at))


def test_page_missing_or_broken_csvs(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(run_index, "PRETRAINED", tmp_path)
    at = app()
    assert not at.exception and not charts_of(at)
    info = texts(at.info)
    assert "python -m engine figure_data fig11" in info and "python -m engine figure_data fig10" in info
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "fig11.csv").write_text("vary,C\nC,2\n")
    (tmp_path / "sweeps" / "fig10.csv").write_bytes(b"\xff\xfe\x00garbage")
    at = app()
    assert not at.exception
    warning = texts(at.warning)
    assert "lacks the column(s)" in warning and "fig10.csv" in warning and "python -m engine figure_data" in warning


def test_page_shows_a_selection_and_an_elimination_run(tmp_path, monkeypatch) -> None:
    pre = tmp_path / "pretrained"
    write_sweeps(pre)
    write_construction_run(pre / "strategy-0", c_sigma=8.0, c_eta=6.0)
    write_construction_run(pre / "strategy-1", c_sigma=-8.0, c_eta=-6.0, seed=1)
    monkeypatch.setattr(run_index, "PRETRAINED", pre)
    got = {e.name: loaders.strategy_of(e)["strategy"] for e in run_index.entries()}
    assert got == {"strategy-0": "selection", "strategy-1": "elimination"}
    at = app()
    view = charts_of(at)[0]  # one view holds both runs, moved by one query in the browser
    assert {r["model"] for r in view["datasets"]["rows"]} == {"selection: strategy-0", "elimination: strategy-1"}
    captions = texts(at.caption)
    assert "nearest the query and copies" in captions and "furthest from the query and subtracts" in captions
    angle = next(p for p in view["params"] if p["name"] == "query")["value"]
    before, after = shown_probabilities(view, (angle,)), shown_probabilities(view, ((angle + 120) % 360,))
    assert set(before) == {"selection: strategy-0", "elimination: strategy-1"} and before != after


def test_sweep_needs_n_divisible_by_C() -> None:
    at = app()
    at.number_input(key="sw_n").set_value(101).run()
    assert not at.exception and "divisible by C" in texts(at.error) and "n = 99 or 102" in texts(at.error)
    assert at.button(key="sw_start").disabled


def test_live_sweep_runs_to_completion(monkeypatch) -> None:
    """The real engine.sweep in the worker thread, polled through the page's fragment: d = 2, 2 seeds, 20 steps."""
    tiny = figures.fig11_config

    def tiny_config(d, C, n, steps):
        return dataclasses.replace(tiny(d, C, n, 20, batch=32), eval_contexts=64)

    monkeypatch.setattr(figures, "fig11_config", tiny_config)
    at = app(sw_C=2, sw_n=10, sw_seeds=2)
    at.button(key="sw_start").click().run()
    assert not at.exception
    job = loaders.job_registry().latest_sweep()
    assert job.seeds == [0, 1] and job.config.steps == 20
    assert watch_job(at, job)
    assert job.state == "finished", job.message + job.detail
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    view = job.view()
    off = [r for r in view["runs"] if r["eval_loss"] < figure_analysis.LEARNED * math.log(2)]
    n_sel = sum(r["strategy"] == "selection" for r in off)
    assert metrics["proportion of selection"] == (f"{n_sel / len(off):.0%}" if off else "none off the plateau")
    table = at.dataframe[-1].value
    assert list(table["seed"]) == [0, 1] and set(table["strategy"]) <= {"selection", "elimination", "on the plateau"}
    assert {"c_sigma", "c_eta", "final_eval_loss"} <= set(table.columns)
    points = shown_rows(at, "c_sigma and c_eta of each seed", "strategy")
    shown = [(r["seed"], r["strategy"] if r["eval_loss"] < figure_analysis.LEARNED * math.log(2) else "on the plateau")
             for r in view["runs"]]
    assert sorted((r["seed"], r["strategy"]) for r in points) == shown
    assert list(table["strategy"]) == [strategy for _, strategy in sorted(shown)]  # no reading on the plateau


def test_live_sweep_stop_button(monkeypatch) -> None:
    monkeypatch.setattr(loaders.job_registry(), "_sweeper", fake_sweeper(steps=100_000, dt=0.005))
    at = app()
    at.button(key="sw_start").click().run()
    job = loaders.job_registry().latest_sweep()
    wait_for(lambda: job.view()["step"] > 0)
    at.run()
    assert len(at.get("progress")) > 0
    at.button(key="sw_stop").click().run()
    wait_for(lambda: job.view()["state"] == "stopped")
    at.run()
    assert not at.exception and any("Stopped at step" in i.value for i in at.info)
    assert {m.label for m in at.metric} >= {"proportion of selection", "runs that learned"}
    assert math.isclose(float(at.metric[0].value.rstrip("%")), 100 * 2 / 4)  # fake: seeds 0 and 2 of 4 select



def test_read_only_server_offers_no_live_sweep(monkeypatch) -> None:
    """KICL_READ_ONLY=1: the live sweep's form and Start button give way to why it cannot run here."""
    monkeypatch.setenv("KICL_READ_ONLY", "1")
    at = app()
    assert not at.exception
    assert "A live sweep is off on this server" in texts(at.info)
    assert not any(b.key == "sw_start" for b in at.button)
