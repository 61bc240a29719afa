"""The baselines against float64 references written from their definitions (tests/reference.py: explicit loops
over points and gradient steps, scipy's optimiser for logistic regression), and the oracle against the task's own
labels in float32, as the headline runs it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize

from engine import baselines as bl
from engine import closed_form as cf
from engine import fit, metrics
from engine.tasks import TaskConfig, sample_contexts
from tests import reference as ref

TASK = TaskConfig(d=3, C=4, n=12)
B = 6  # contexts checked against the loops


@pytest.fixture(scope="module")
def ctx32():
    """256 contexts in float32 (the oracle's test); the first B, cast to float64, are the references' data."""
    return sample_contexts(jax.random.key(23), TASK, 256)


def f64(ctx):
    """The first B contexts in float64 (call under the `x64` fixture)."""
    return metrics.to_float64(ctx.take(slice(0, B)))


def mean_ce(probs_BxC, yq) -> float:
    return float(-np.mean(np.log(probs_BxC[np.arange(len(yq)), yq])))


@pytest.mark.parametrize("d", [2, 3])
def test_oracle_is_always_right_with_zero_loss(ctx32, d) -> None:
    """Labels are the nearest prototype, so the oracle's accuracy is exactly 1 and its cross-entropy exactly 0."""
    ctx = ctx32 if d == 3 else sample_contexts(jax.random.key(23), TaskConfig(2, 4, 12), 256)
    m = metrics.per_context(bl.logits("oracle", ctx, {}), ctx.yq)
    assert float(m["correct"].min()) == 1.0 and float(jnp.abs(m["loss"]).max()) == 0.0
    c = ref.as_np(ctx)
    assert [ref.nearest_prototype(c["protos"][b], c["xq"][b]) for b in range(64)] == list(c["yq"][:64])


def test_knn_is_the_smoothed_vote_of_the_nearest_points(ctx32, x64) -> None:
    ctx, c = f64(ctx32), ref.as_np(f64(ctx32))
    for k, alpha in ((1, 0.01), (3, 0.5), (12, 2.0)):
        got = np.asarray(jax.nn.softmax(bl.logits("knn", ctx, {"k": k, "alpha": alpha}), -1))
        want = np.stack([ref.knn_probs(c["xs"][b], c["ys"][b], c["xq"][b], TASK.C, k, alpha) for b in range(B)])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    alphas = np.array([0.01, 0.3, 3.0])
    grid = np.asarray(bl.knn_grid_losses(ctx, jnp.asarray(alphas)))
    want = [[mean_ce(np.stack([ref.knn_probs(c["xs"][b], c["ys"][b], c["xq"][b], TASK.C, k, a) for b in range(B)]),
                     c["yq"]) for a in alphas] for k in range(1, TASK.n + 1)]
    np.testing.assert_allclose(grid, want, rtol=1e-12)


def test_gd_steps_are_explicit_gradient_steps_and_the_first_is_eq2(ctx32, x64) -> None:
    ctx, c = f64(ctx32), ref.as_np(f64(ctx32))
    for steps, eta in ((1, 7.0), (2, 3.0), (5, 20.0)):
        got = np.asarray(bl.gd_steps_logits(ctx, jnp.asarray(eta), jnp.asarray(steps)))
        want = np.stack([ref.gd_steps(c["xs"][b], c["ys"][b], c["xq"][b], TASK.C, eta, steps) for b in range(B)])
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # one step from W = 0 is eq. 2 up to a shift common to all classes: the same probabilities
    one = jax.nn.softmax(bl.gd_steps_logits(ctx, jnp.asarray(7.0), jnp.asarray(1)), -1)
    np.testing.assert_allclose(one, jax.nn.softmax(cf.gd_logits(ctx, 7.0), -1), rtol=1e-12)
    etas = np.array([0.5, 7.0, 60.0])
    grid = np.asarray(bl.gd_steps_grid_losses(ctx, jnp.asarray(etas), 3))
    want = [[mean_ce(np.stack([ref.softmax(ref.gd_steps(c["xs"][b], c["ys"][b], c["xq"][b], TASK.C, eta, s))
                               for b in range(B)]), c["yq"]) for eta in etas] for s in (1, 2, 3)]
    np.testing.assert_allclose(grid, want, rtol=1e-10)


def test_logistic_regression_reaches_the_penalised_optimum(ctx32, x64) -> None:
    """The gradient of the objective, computed point by point in float64, vanishes at the returned weights, which
    are scipy's optimum too; the warm-started grid reports the loss of the same optimum."""
    ctx, c = f64(ctx32), ref.as_np(f64(ctx32))
    C, d = TASK.C, TASK.d
    lams = np.array([1e-4, 1e-2])
    for lam in lams:
        W, g = bl.logreg_weights(ctx, lam, tol=1e-11)
        W = np.asarray(W)
        assert float(g.max()) < 1e-11
        for b in range(B):
            args = (c["xs"][b], c["ys"][b], C, lam)
            assert np.abs(ref.softmax_regression_grad(W[b], *args)[1]).max() < 1e-9
        b = 0
        res = minimize(lambda w: ref.softmax_regression_grad(w.reshape(C, d), c["xs"][b], c["ys"][b], C, lam),
                       np.zeros(C * d), jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15})
        np.testing.assert_allclose(W[b].ravel(), res.x, atol=1e-4 * max(1.0, np.abs(res.x).max()))
    loss, _ = bl.logreg_grid_losses(ctx, jnp.asarray(lams), tol=1e-11)
    for lam, got in zip(lams, np.asarray(loss)):
        W = np.asarray(bl.logreg_weights(ctx, lam, tol=1e-11)[0])
        assert got == pytest.approx(mean_ce(np.stack([ref.softmax(W[b] @ c["xq"][b]) for b in range(B)]), c["yq"]),
                                    rel=1e-9)


def test_fit_all_takes_each_grids_best_point(ctx32) -> None:
    """In float32, as the headline fits: every baseline gets its grid's argmin (fit.grid_fit), one GD pass gives all
    step counts, and the logits at the fitted constants reproduce the fitted loss."""
    ctx = ctx32.take(slice(0, 64))
    fits = bl.fit_all(ctx)
    assert set(fits) == set(bl.BASELINES) - {"oracle"}
    for name, f in fits.items():
        assert tuple(f.best) == bl.PARAM_NAMES[name] and f.refined == f.best and f.method == name
        assert f.loss == pytest.approx(float(np.nanmin(f.losses)))
    rows = bl.table(ctx, fits)  # the rows the headline and Compare show: the fitted losses again, on these contexts
    assert [r["learner"] for r in rows] == [bl.NAMES[b] for b in bl.BASELINES]
    assert rows[0]["loss"] == 0.0 and rows[0]["accuracy"] == 1.0
    assert {r["learner"]: r["loss"] for r in rows[1:]} == pytest.approx(
        {bl.NAMES[name]: f.loss for name, f in fits.items()}, rel=2e-3)
    W = bl.logreg_weights(ctx, jnp.asarray(fits["logreg"].refined["lam"], ctx.xs.dtype))[0]
    np.testing.assert_allclose(bl.logits("logreg", ctx, fits["logreg"].refined), jnp.einsum("bcd,bd->bc", W, ctx.xq))
    assert fits["knn"].losses.shape == (TASK.n, bl.KNN_ALPHA[2]) and 1 <= fits["knn"].best["k"] <= TASK.n
    assert bl.constants(fits)["oracle"] == {}
    assert bl.constants_text("knn", {"k": 3.0, "alpha": 0.25}) == "k 3, alpha 0.25"
    assert fit.grid_best({"eta": np.array([1.0, 2.0, 3.0])}, np.array([np.nan, 0.5, 0.7])) == ({"eta": 2.0}, 0.5)
    with pytest.raises(ValueError):
        bl.logits("svm", ctx, {})
