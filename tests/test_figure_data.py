"""engine.figure_data: the shapes, recipe and reading of Fig. 11, and both figures' CSVs from tiny sweeps
(the module's shapes and presets shrunk by monkeypatch: these tests are about the data, not the science)."""

import csv
import dataclasses
import math

import numpy as np
import pytest

from engine import figure_analysis, figure_tables
from engine import figure_data as fd
from engine.config import PRESETS
from engine.runs import write_json


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_fig11_shapes_recipe_and_example_preset():
    points = fd.fig11_shapes()
    assert {v for v, _ in points} == {"C", "d", "n"}
    assert all(s["n"] % s["C"] == 0 for _, s in points)
    for vary, values in fd.FIG11_VARY.items():  # each group varies one thing around the base
        group = [s for v, s in points if v == vary]
        assert [s[vary] for s in group] == list(values)
        assert any(s == figure_analysis.FIG11_BASE for s in group)
        assert all(s[k] == figure_analysis.FIG11_BASE[k] for s in group for k in ("d", "C") if k != vary)
    assert [s["n"] for v, s in points if v == "C"] == [100, 120, 100, 120, 100]  # n = 120 where C does not divide 100
    steps = [fd.fig11_steps(d) for d in (2, 3, 4, 5, 10, 20)]
    assert steps == sorted(steps) and fd.fig11_steps(4) == fd.FIG11_STEPS[5]
    assert fd.fig11_steps(20) == fd.FIG11_STEPS[10]
    example = PRESETS["fig11-d2-C2"]
    assert dataclasses.replace(example, preset="") == fd.fig11_config(2, 2, 100)
    assert example.init_scale == 0.002  # the paper's start: the strategy depends on it
    assert fd.fig11_config(5, 5, 100).steps == fd.FIG11_STEPS[5] and fd.fig11_config(5, 5, 100, 7, 64).batch == 64


def test_fig11_csv_and_evidence(tmp_path, monkeypatch, capsys):
    """Two shapes (d = 2, C = 2, n = 4 and n = 8), 2 seeds, 4 steps: one row per point and seed (the base
    shape trained once, its rows repeated in every group), the evidence of every evaluation."""
    monkeypatch.setattr(fd, "FIG11_BASE", {"d": 2, "C": 2, "n": 4})
    monkeypatch.setattr(fd, "FIG11_VARY", {"C": (2,), "n": (4, 8)})
    out = tmp_path / "sweeps" / "fig11.csv"
    res = fd.fig11(out, steps=4, seeds=2, batch=8)
    assert "proportion of selection over 2 seeds" in capsys.readouterr().out
    rows = read_csv(out)
    assert list(rows[0]) == figure_tables.FIG11_WRITTEN == [*figure_tables.FIG11_COLUMNS, "init"]
    assert {r["init"] for r in rows} == {"normal"}  # the default reading
    assert [(r["vary"], r["n"], r["seed"]) for r in rows] == [("C", "4", "0"), ("C", "4", "1"), ("n", "4", "0"),
                                                               ("n", "4", "1"), ("n", "8", "0"), ("n", "8", "1")]
    base = {k: v for k, v in rows[0].items() if k != "vary"}
    assert {k: v for k, v in rows[2].items() if k != "vary"} == base  # the same runs, not retrained
    evidence = read_csv(out.with_name("fig11_evidence.csv"))
    assert len(evidence) == 2 * 2 * 5  # shapes x seeds x evaluations (steps 0..4)
    for r in rows:
        mine = [e for e in evidence if (e["n"], e["seed"]) == (r["n"], r["seed"])]
        assert [int(e["step"]) for e in mine] == [0, 1, 2, 3, 4]
        last = mine[-1]
        assert r["strategy"] == last["strategy"] == last["final_strategy"]
        assert (r["c_sigma"], r["c_eta"], r["final_eval_loss"]) == (last["c_sigma"], last["c_eta"], last["eval_loss"])
        D = int(r["d"]) + int(r["C"])
        score = float(r["c_sigma"]) / math.sqrt(D) + float(r["c_eta"])  # the strategy reading (science, 7)
        assert r["strategy"] == ("selection" if score >= 0 else "elimination")
        assert float(last["margin"]) == pytest.approx(abs(score), rel=1e-6, abs=1e-12)
        want = figure_analysis.learned(float(r["final_eval_loss"]), float(last["margin"]), int(r["C"]))
        assert r["learned"] == str(want) == last["learned"]
        assert all(e["agrees"] == str(e["strategy"] == last["strategy"]) for e in mine)
    assert res["agreement"][1.0] == (1.0, res["agreement"][1.0][1])  # the final evaluation agrees with itself
    assert len(res["rows"]) == 6 and len(res["evidence"]) == 20


def test_fig11_points_restricted_to_values_of_one_group():
    assert fd.fig11_points(("C",), (2, 5)) == [("C", {"d": 2, "C": 2, "n": 100}), ("C", {"d": 2, "C": 5, "n": 100})]
    assert fd.fig11_points(("C", "n")) == [p for p in fd.fig11_shapes() if p[0] in ("C", "n")]
    assert fd.fig11_points(("C",), (3,)) == [("C", {"d": 2, "C": 3, "n": 120})]  # n = 120 as in the full figure
    with pytest.raises(ValueError, match="restricts one group: give one --vary, not C d"):
        fd.fig11_points(("C", "d"), (2,))
    with pytest.raises(ValueError, match="--values 4: not a point of Fig. 11; C takes 2, 3, 5, 8, 10"):
        fd.fig11_points(("C",), (2, 4))
    with pytest.raises(ValueError, match="--vary k: Fig. 11 varies C, d, n"):
        fd.fig11_points(("k",))
    assert fd.fig11_config(2, 5, 100, init="variance_scaling") == dataclasses.replace(fd.fig11_config(2, 5, 100),
                                                                                       init="variance_scaling")


def test_fig11_under_both_initialisation_readings(tmp_path, monkeypatch, capsys):
    """One point (C = 2 of a group C in (2, 4)), 2 seeds, 2 steps, under both readings: one row per reading
    and seed, named in the `init` column of both CSVs; the variance-scaling start (std sqrt(0.002 / D), ~11x
    at D = 4) shows in the step-0 constants, which scale with the square of the weights."""
    monkeypatch.setattr(fd, "FIG11_BASE", {"d": 2, "C": 2, "n": 4})
    monkeypatch.setattr(fd, "FIG11_VARY", {"C": (2, 4)})
    out = tmp_path / "fig11_init.csv"
    fd.fig11(out, steps=2, seeds=2, batch=8, vary=("C",), values=(2,), inits=("normal", "variance_scaling"))
    printed = capsys.readouterr().out
    assert " init normal:" in printed and " init variance_scaling:" in printed and "C=2" in printed
    rows = read_csv(out)
    assert [(r["init"], r["C"], r["seed"]) for r in rows] == [
        ("normal", "2", "0"), ("normal", "2", "1"), ("variance_scaling", "2", "0"), ("variance_scaling", "2", "1")]
    evidence = read_csv(out.with_name("fig11_init_evidence.csv"))
    assert list(evidence[0]) == figure_tables.FIG11_EVIDENCE_WRITTEN
    start = {(e["init"], e["seed"]): abs(float(e["c_eta"])) for e in evidence if e["step"] == "0"}
    for seed in ("0", "1"):
        assert start[("variance_scaling", seed)] > 10 * start[("normal", seed)]
    with pytest.raises(ValueError, match="--init glorot: choose among normal, variance_scaling"):
        fd.fig11(out, steps=2, seeds=2, vary=("C",), inits=("glorot",))


@pytest.fixture
def tiny_fig10_presets(monkeypatch):
    """fig10's two recipes at d = 2, batch 16: the same code path, a fraction of the cost."""
    small = dict(d=2, C=5, n=20, batch=16, eval_contexts=16)
    for name in ("paper-softmax-d10", "fast-softmax-d10"):
        monkeypatch.setitem(PRESETS, name, dataclasses.replace(PRESETS[name], **small))


def test_fig10_csv_from_a_saved_fast_run(tmp_path, tiny_fig10_presets, capsys):
    fast = tmp_path / "fast-softmax-d10"
    cfg = PRESETS["fast-softmax-d10"]
    evals = [{"step": s, "c_sigma": 1.0 + s, "c_eta": 2.0 * s, "eval_loss": 1.5 - s / 1000} for s in (0, 100, 200)]
    write_json(fast / "config.json", cfg.to_dict())
    write_json(fast / "history.json", {"evals": evals, "snapshots": []})
    write_json(fast / "status.json", {"status": "stopped"})
    out = tmp_path / "fig10.csv"
    rows = fd.fig10(out, steps=2, fast_run=fast, lrs=(5e-5, 3e-3), lr_scale=10.0, batch=16)
    assert "wrote" in capsys.readouterr().out
    assert read_csv(out) == [{k: str(v) for k, v in r.items()} for r in rows]
    assert list(read_csv(out)[0]) == figure_tables.FIG10_COLUMNS
    paper = [r for r in rows if r["recipe"] == "paper-softmax-d10"]
    assert [(r["paper_lr"], r["step"]) for r in paper] == [(lr, s) for lr in (5e-5, 3e-3) for s in (0, 1, 2)]
    assert all(r["lr"] == pytest.approx(10 * r["paper_lr"]) and r["batch"] == 16 for r in paper)  # scaled as asked
    assert all(r["recipe_steps"] == 2_000_000 for r in paper)  # the full recipe's length, truncated here
    assert all(math.isfinite(r["c_sigma"]) and math.isfinite(r["eval_loss"]) for r in paper)
    fast_rows = [r for r in rows if r["recipe"] == "fast-softmax-d10"]
    assert [(r["step"], r["c_sigma"], r["c_eta"], r["eval_loss"]) for r in fast_rows] == [
        (e["step"], e["c_sigma"], e["c_eta"], e["eval_loss"]) for e in evals]
    assert all(r["lr"] == cfg.lr and r["recipe_steps"] == cfg.steps for r in fast_rows)


def test_fig10_trains_the_fast_recipe_when_no_run_is_saved(tmp_path, tiny_fig10_presets, capsys):
    rows = fd.fig10(tmp_path / "fig10.csv", steps=1, fast_steps=40, fast_run=tmp_path / "none", lrs=(1e-4,), batch=16)
    capsys.readouterr()
    fast_rows = [r for r in rows if r["recipe"] == "fast-softmax-d10"]
    assert [r["step"] for r in fast_rows] == list(range(0, 41))  # eval_every = steps // 40
    assert all(r["recipe_steps"] == 40 and r["lr"] == PRESETS["fast-softmax-d10"].lr for r in fast_rows)


def test_shipped_fig10_has_four_rates_all_off_the_chance_plateau():
    """pretrained/sweeps/fig10.csv as documented: the paper's four rates times FIG10_LR_SCALE at batch FIG10_BATCH,
    FIG10_STEPS steps from chance level (log C nats), each ending below 0.97 log C."""
    from pathlib import Path

    rows = figure_tables.read_table(Path(__file__).resolve().parent.parent / "pretrained/sweeps/fig10.csv",
                                    figure_tables.FIG10_COLUMNS)
    assert list(rows.columns[: len(figure_tables.FIG10_COLUMNS)]) == figure_tables.FIG10_COLUMNS
    paper = rows[rows["recipe"] == "paper-softmax-d10"]
    assert sorted(paper["paper_lr"].unique()) == sorted(fd.FIG10_LRS)
    for lr, part in paper.groupby("paper_lr"):
        part = part.sort_values("step")
        np.testing.assert_allclose(part["lr"], lr * fd.FIG10_LR_SCALE, rtol=1e-6)
        assert (part["batch"] == fd.FIG10_BATCH).all()
        assert part["step"].iloc[0] == 0 and part["step"].iloc[-1] == fd.FIG10_STEPS
        assert (part["recipe_steps"] == PRESETS["paper-softmax-d10"].steps).all()
        assert part["eval_loss"].iloc[0] == pytest.approx(math.log(5), abs=1e-3)  # chance level, in nats
        assert part["eval_loss"].iloc[-1] < figure_analysis.LEARNED * math.log(5), lr
    assert (rows["recipe"] == "fast-softmax-d10").any()
