"""Layers at other context sizes: every number of the table equals a float64 numpy computation on the same held-out
contexts (full attention over the token matrix, the closed forms' formulas at the row's constants); the row refitted
at the training n is its not-refitted row; a linear layer at n computes GD with the rate eta n / n_train; the command
writes the table for the runs it finds; the words say what the numbers say."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest

from engine import cli, constructions, context_size, fitted
from engine.closed_form import NAMES
from engine.headline import held_out
from engine.tasks import TaskConfig
from tests import reference as ref

NS = (3, 6, 12)  # the tiny run: d = 3, C = 3, trained at n = 6
N = 24
FIT_N = 64


def summary64(logits_BxC: np.ndarray, yq_B: np.ndarray) -> dict[str, float]:
    z = logits_BxC - logits_BxC.max(1, keepdims=True)
    loss = -(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(len(yq_B)), yq_B]
    return {"loss": loss.mean(), "loss_se": loss.std(ddof=1) / np.sqrt(loss.size),
            "accuracy": np.mean(logits_BxC.argmax(1) == yq_B)}


def reference_logits(row: dict, run, task: TaskConfig, ctx: dict, i: int) -> np.ndarray:
    """Context i's logits for the learner of `row`, in float64 numpy: full attention for the layer, the closed
    form's formula at the constants fitted where the row says (the training task, or this n's)."""
    xs, ys, xq, C = ctx["xs"][i], ctx["ys"][i], ctx["xq"][i], task.C
    if row["kind"] == "trained layer":
        return ref.model_logits(run.params, xs, ys, xq, C, run.config.kind, query_in_keys=run.config.query_in_keys)
    method = {v: k for k, v in NAMES.items()}[row["learner"]]
    c = fitted.fitted(method, task if row["refitted"] else run.config.task, FIT_N).refined
    if method == "gd":
        return ref.gd(xs, ys, xq, C, c["eta"])
    return ref.adaptive(xs, ys, xq, C, c["c_eta"], c["c_sigma"])


@pytest.fixture(scope="module")
def tiny_rows(tiny_run) -> list[dict]:
    return context_size.rows(tiny_run.params, "softmax", tiny_run.config.task, tiny_run.config.query_in_keys,
                             name="tiny", ns=NS, N=N, fit_N=FIT_N)


def test_every_number_matches_float64_numpy(tiny_run, tiny_rows) -> None:
    train = tiny_run.config.task
    assert [(r["n"], r["learner"], r["refitted"]) for r in tiny_rows] == [
        (n, lbl, refit) for n in NS for lbl, refit in [("softmax SA (trained)", False), ("eq. 1", False),
                                                        ("eq. 1", True), ("GD (eq. 2)", False), ("GD (eq. 2)", True)]]
    for n in NS:
        task = TaskConfig(train.d, train.C, n)
        ctx = ref.as_np(held_out(task, N))
        for r in (r for r in tiny_rows if r["n"] == n):
            if r["kind"] == "closed form":
                assert r["fit_n"] == (n if r["refitted"] else train.n)
            logits = np.stack([reference_logits(r, tiny_run, task, ctx, i) for i in range(N)])
            want = summary64(logits, ctx["yq"])
            assert r["loss"] == pytest.approx(want["loss"], rel=2e-4, abs=1e-5), r
            assert r["loss_se"] == pytest.approx(want["loss_se"], rel=2e-3, abs=1e-5), r
            assert r["accuracy"] == pytest.approx(want["accuracy"]), r


def test_refitted_at_the_training_n_is_the_row_not_refitted(tiny_run, tiny_rows) -> None:
    n0 = tiny_run.config.n
    for learner in ("eq. 1", "GD (eq. 2)"):
        fixed, refit = (next(r for r in tiny_rows if r["n"] == n0 and r["learner"] == learner
                             and r["refitted"] == b) for b in (False, True))
        assert {k: v for k, v in fixed.items() if k != "refitted"} == {k: v for k, v in refit.items()
                                                                       if k != "refitted"}
        assert context_size.refit_gain(tiny_rows, 3, learner)[n0] == 0.0
    others = [r for r in tiny_rows if r["n"] != n0 and r["learner"] == "eq. 1"]
    assert len({r["constants"] for r in others}) == 3  # the training n's constants, and others refitted at each n


def test_a_linear_layer_at_n_is_gd_at_rate_eta_n_over_its_training_n() -> None:
    """The docstring's account of the linear layer: its B holds eta / n_train, so at n it is GD at eta n / n_train
    (and at the training n exactly the GD row)."""
    train = TaskConfig(2, 5, 20)
    eta = fitted.fitted("gd", train, FIT_N).refined["eta"]
    params = constructions.linear_construction(train, eta)
    got = context_size.rows(params, "linear", train, ns=(10, 20, 40), N=N, fit_N=FIT_N)
    assert [r["learner"] for r in got[:3]] == ["linear SA (trained)", "GD (eq. 2)", "GD (eq. 2)"]
    for n in (10, 20, 40):
        ctx = ref.as_np(held_out(TaskConfig(2, 5, n), N))
        layer = next(r for r in got if r["n"] == n and r["kind"] == "trained layer")
        want = summary64(np.stack([ref.gd(ctx["xs"][i], ctx["ys"][i], ctx["xq"][i], 5, eta * n / 20)
                                   for i in range(N)]), ctx["yq"])
        assert layer["loss"] == pytest.approx(want["loss"], rel=2e-4, abs=1e-5)
    assert got[0]["loss"] != got[1]["loss"]
    assert got[3]["loss"] == pytest.approx(got[4]["loss"], abs=1e-6)  # n = 20: the layer is the GD row


def test_bad_n_fails_before_any_work(tiny_run) -> None:
    with pytest.raises(ValueError, match="divisible by C"):
        context_size.rows(tiny_run.params, "softmax", tiny_run.config.task, ns=(6, 7), N=N, fit_N=FIT_N,
                          contexts=lambda *a: pytest.fail("sampled before checking n"))


def test_table_keeps_each_closed_form_row_once_per_d_and_n(tiny_run, tmp_path, monkeypatch) -> None:
    """The linear and the softmax run of one d meet GD on the same contexts: one GD row each (n, refitted)."""
    for kind in ("linear", "softmax"):
        shutil.copytree(tiny_run.path, tmp_path / f"fast-{kind}-d3")
    real = context_size.load_run

    def load(path):
        run = real(path)
        kind = "linear" if "linear" in path.name else "softmax"
        return dataclasses.replace(run, config=dataclasses.replace(run.config, kind=kind))

    monkeypatch.setattr(context_size, "load_run", load)
    tab = context_size.table(tmp_path, dims=(3, 5), ns=(3, 6), N=N, fit_N=FIT_N)
    keys = [(r["n"], r["learner"], r["refitted"]) for r in tab]
    assert len(keys) == len(set(keys)) == 2 * (2 + 4)  # per n: two layers, eq. 1 and GD both ways
    assert [r["n"] for r in tab] == sorted(r["n"] for r in tab)


def test_command_writes_the_table_with_a_line_per_step(tiny_run, tmp_path, capsys) -> None:
    root, out = tmp_path / "root", tmp_path / "out" / "context_size.csv"
    shutil.copytree(tiny_run.path, root / "fast-softmax-d3")
    args = ["--root", str(root), "--d", "3", "--contexts", str(N), "--fit-contexts", str(FIT_N), "--out", str(out)]
    assert cli.context_size_main([*args, "--ns", *map(str, NS)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("[") and "fast-softmax-d3 d=3 n=" in line for line in printed) == len(NS)
    table = pd.read_csv(out)
    assert list(table.columns) == context_size.COLUMNS and sorted(set(table["n"])) == list(NS)
    assert len(table) == 5 * len(NS) and set(table["refitted"]) == {True, False}
    assert context_size.carry_over(table, 3) in printed
    assert cli.context_size_main([*args, "--ns", "3", "7"]) == 1
    assert "divisible by C" in capsys.readouterr().err.strip().splitlines()[-1]
    assert cli.context_size_main([*args, "--d", "4", "--ns", "3"]) == 1  # no runs at d = 4: said, nothing written
    assert "no fast-linear-d* or fast-softmax-d* runs" in capsys.readouterr().err


def _table(gain_eq1: float, gain_gd: float, gap_softmax: float, gap_linear: float) -> list[dict]:
    """A made-up table at d = 2, trained at n = 100: the closed forms' losses refitted are 0.3, not refitted 0.3 plus
    the gain at n = 400 (0 elsewhere); each layer sits on its closed form not refitted, but its gap above at n = 20."""
    out = []
    for n in (20, 100, 400):
        for (layer, gap), (learner, gain) in zip((("softmax SA (trained)", gap_softmax), ("linear SA (trained)",
                                                                                         gap_linear)),
                                                 (("eq. 1", gain_eq1), ("GD (eq. 2)", gain_gd))):
            fixed = 0.3 + (gain if n == 400 else 0.0)
            out.append({"d": 2, "n": n, "learner": layer, "kind": "trained layer", "refitted": False, "fit_n": 100,
                        "loss": fixed + (gap if n == 20 else 0.0)})
            for refit in (False, True):
                out.append({"d": 2, "n": n, "learner": learner, "kind": "closed form", "refitted": refit,
                            "fit_n": n if refit else 100, "loss": 0.3 if refit else fixed})
    return out


def test_carry_over_reads_the_answer_off_the_numbers() -> None:
    worse = context_size.carry_over(_table(0.1, 0.01, 0.002, 0.3), 2)
    assert "carry over worse for eq. 1 than for GD (eq. 2)" in worse
    assert "eq. 1's cross-entropy by up to 0.100 (at n = 400), GD's by up to 0.010 (at n = 400)" in worse
    assert "softmax SA from eq. 1 by up to 0.002 (at n = 20), linear SA from GD (eq. 2) by up to 0.300" in worse
    assert "rate per point stays that of n = 100" in worse
    assert "carry over better for eq. 1" in context_size.carry_over(_table(0.01, 0.1, 0.002, 0.3), 2)
    same = context_size.carry_over(_table(0.05, 0.052, 0.2, 0.2), 2)
    assert "about equally" in same and "rate per point" not in same  # no layer strays more: no reason given
    assert context_size.carry_over(_table(0.1, 0.01, 0.0, 0.0), 3) == ""  # no rows at d = 3
    frame = pd.DataFrame(_table(0.1, 0.01, 0.002, 0.3)).astype({"refitted": str})  # as read back from a CSV
    assert context_size.carry_over(frame, 2) == worse
