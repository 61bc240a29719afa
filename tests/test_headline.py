"""The softmax-vs-linear table: every number equals an independent float64 computation on the same held-out
contexts (full attention over the token matrix for the trained layers, the closed forms' formulas at their
stored constants, the baselines' loops and scipy's optimiser at their fitted constants), and those constants were
fitted on other contexts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from engine import baselines, fitted, headline
from engine.runs import PRETRAINED_ROOT, load_run
from engine.tasks import TaskConfig
from tests import reference as ref

N = 48


def cross_entropy(logits: np.ndarray, yq: np.ndarray) -> float:
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-np.mean(logp[np.arange(len(yq)), yq]))


FIT_N = 64  # the baselines' fit contexts here (the command fits on baselines.FIT_N)


def logreg_probs(xs, ys, xq, C, lam) -> np.ndarray:
    """Logistic regression's prediction from scipy's optimum of the penalised cross-entropy (vectorised numpy)."""
    n, d = xs.shape
    Y = np.eye(C)[ys]

    def f(w):
        W = w.reshape(C, d)
        z = xs @ W.T
        z = z - z.max(1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        loss = -np.mean(np.log(p[np.arange(n), ys])) + 0.5 * lam * np.sum(W**2)
        return loss, ((p - Y).T @ xs / n + lam * W).ravel()

    w = minimize(f, np.zeros(C * d), jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-15}).x
    return ref.softmax(w.reshape(C, d) @ xq)


def baseline_probs(name: str, consts: dict, xs, ys, xq, protos) -> np.ndarray:
    C = len(protos)
    if name == "oracle":
        return np.eye(C)[ref.nearest_prototype(protos, xq)]
    if name == "knn":
        return ref.knn_probs(xs, ys, xq, C, int(round(consts["k"])), consts["alpha"])
    if name == "logreg":
        return logreg_probs(xs, ys, xq, C, consts["lam"])
    return ref.softmax(ref.gd_steps(xs, ys, xq, C, consts["eta"], int(name.split("_")[1])))


def test_every_number_matches_an_independent_computation() -> None:
    table = headline.rows(N=N, dims=(2, 3), fit_N=FIT_N)
    shipped = {(d, what) for d in (2, 3) for what in headline.LAYERS
               if (PRETRAINED_ROOT / f"fast-{what}-d{d}" / "config.json").is_file()}
    assert {(2, "linear"), (2, "softmax"), (3, "linear"), (3, "softmax")} <= shipped
    assert [(r["d"], r["learner"]) for r in table] == [
        (d, lbl) for d in (2, 3) for lbl in [*headline.LEARNERS, *headline.BASELINES]
        if headline.LEARNERS.get(lbl) not in headline.LAYERS or (d, headline.LEARNERS[lbl]) in shipped]
    for d in (2, 3):
        task = TaskConfig(d, 5, 100)
        ctx = ref.as_np(headline.held_out(task, N))
        fit_ctx = ref.as_np(fitted.fit_contexts(task, 64))
        assert not np.allclose(ctx["xs"][:64], fit_ctx["xs"][: min(N, 64)])  # fitted on other contexts
        got = {r["learner"]: r["loss"] for r in table if r["d"] == d}
        for label, what in headline.LEARNERS.items():
            if what in headline.LAYERS and (d, what) not in shipped:
                continue
            if what in headline.LAYERS:
                run = load_run(PRETRAINED_ROOT / f"fast-{what}-d{d}")
                logits = np.stack([ref.model_logits(run.params, ctx["xs"][i], ctx["ys"][i], ctx["xq"][i], 5, what,
                                                    query_in_keys=run.config.query_in_keys) for i in range(N)])
            else:
                c = fitted.fitted(what, task).refined
                one = {"gd": lambda i: ref.gd(ctx["xs"][i], ctx["ys"][i], ctx["xq"][i], 5, c["eta"]),
                       "kernel_gd": lambda i: ref.kernel_gd(ctx["xs"][i], ctx["ys"][i], ctx["xq"][i], 5, c["eta"],
                                                             c["sigma2"]),
                       "adaptive": lambda i: ref.adaptive(ctx["xs"][i], ctx["ys"][i], ctx["xq"][i], 5, c["c_eta"],
                                                           c["c_sigma"])}[what]
                logits = np.stack([one(i) for i in range(N)])
            assert abs(cross_entropy(logits, ctx["yq"]) - got[label]) < 2e-4 * max(1.0, got[label]), (d, label)
        consts = baselines.constants(baselines.fitted(task, FIT_N))
        for label, name in headline.BASELINES.items():
            p = np.stack([baseline_probs(name, consts[name], ctx["xs"][i], ctx["ys"][i], ctx["xq"][i],
                                         ctx["protos"][i]) for i in range(N)])
            want = float(-np.mean(np.log(p[np.arange(N), ctx["yq"]])))
            assert abs(want - got[label]) < 1e-3 * max(1.0, want), (d, label, want, got[label])
        assert got[headline.ORACLE] == 0.0
    # the claim the table is about, at d = 2 where the gap is large: softmax attention beats linear attention
    got = {r["learner"]: r["loss"] for r in table if r["d"] == 2}
    assert got["softmax SA (trained)"] < got["linear SA (trained)"]


def test_the_shipped_table_is_what_the_command_makes() -> None:
    import pandas as pd

    shipped = pd.read_csv(PRETRAINED_ROOT / "headline.csv", keep_default_na=False)
    assert list(shipped.columns) == headline.COLUMNS
    N_shipped = int(shipped["contexts"].iloc[0])
    again = pd.DataFrame(headline.rows(N=N_shipped, dims=(2,)))
    want = shipped[shipped["d"] == 2].reset_index(drop=True)
    assert list(again["learner"]) == list(want["learner"]) and list(again["constants"]) == list(want["constants"])
    np.testing.assert_allclose(again["loss"], want["loss"], rtol=1e-4, atol=1e-7)


def test_verdict_claims_only_what_the_gaps_allow() -> None:
    """Gaps are softmax minus linear per d; clear ones are named with their size, small ones (under SMALL_GAP)
    are said not to be evidence, whichever their sign."""
    losses = {2: (0.35, 0.11), 3: (0.41, 0.32), 5: (0.499, 0.493), 10: (0.654, 0.657)}
    table = [{"d": d, "learner": label, "loss": loss} for d, (lin, soft) in losses.items()
             for label, loss in (("linear SA (trained)", lin), ("softmax SA (trained)", soft), ("eq. 1", 0.0))]
    assert headline.gaps(table) == pytest.approx({d: soft - lin for d, (lin, soft) in losses.items()})
    words = headline.verdict(table)
    assert "lower than the linear layer's by 0.240 at d = 2 and 0.090 at d = 3" in words
    assert "d = 5 (-0.006) and d = 10 (+0.003)" in words and "not evidence either way" in words
    assert "higher" not in words
    table[7]["loss"] = 0.52  # softmax clearly worse at d = 5
    assert "higher by 0.021 at d = 5" in headline.verdict(table)


def test_yardsticks_say_what_the_baselines_add() -> None:
    """Each baseline sentence is computed from the table: logistic regression against the best one-step learner, the
    best GD step count against one step, k-NN against eq. 1; small gaps are said to be small."""
    one_step = {2: 0.11, 3: 0.32, 10: 0.65}  # eq. 1, the best one-step learner at every d here
    rows = [{"d": d, "learner": name, "kind": "x", "loss": loss, "accuracy": 0.9}
            for d, best in one_step.items()
            for name, loss in (("eq. 1", best), ("GD (eq. 2)", best + 0.2), (headline.LOGREG, best - 0.1 * (d > 2)),
                               (headline.GD_STEPS[0], best + 0.25 - 0.3 * (d == 10)), (headline.KNN, best + 0.05))]
    rows += [{"d": d, "learner": headline.ORACLE, "kind": "baseline", "loss": 0.0, "accuracy": 1.0} for d in one_step]
    words = " ".join(headline.yardsticks(rows))
    assert "always right (cross-entropy 0, accuracy 1)" in words
    assert "lower than the best one-step learner (trained or closed form) by 0.100 at d = 3 and 0.100 at d = 10; " \
           "within 0.01 of it at d = 2 (+0.000)" in words
    assert "lower than one step (eq. 2) by 0.250 at d = 10; higher by 0.050 at d = 2 and 0.050 at d = 3" in words
    assert "k-NN's vote (k fitted): cross-entropy higher than eq. 1 by 0.050 at d = 2, 0.050 at d = 3 and 0.050 at " \
           "d = 10." in words
    rows[-1]["loss"] = 0.5
    assert "always right" not in " ".join(headline.yardsticks(rows))
    table = headline.by_d(rows)
    assert [r["learner"] for r in table][:2] == ["eq. 1", "GD (eq. 2)"] and table[0]["d = 3"] == "0.320 (90.0%)"
