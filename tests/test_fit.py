import math

import jax
import numpy as np
import pytest

from engine import closed_form as cf
from engine import fit
from engine.tasks import TaskConfig, sample_contexts
from tests import reference as ref

TASK = TaskConfig(d=3, C=5, n=20)
# Small grids: these tests are about the logic, not the default grids.
SMALL = {
    "gd": {"eta": np.logspace(0, 2.5, 9)},
    "kernel_gd": {"sigma2": np.logspace(-2, 1, 6), "eta": np.logspace(0, 3, 9)},
    "adaptive": {"c_sigma": np.logspace(-1, 2, 7), "c_eta": np.logspace(-1, 2, 9)},
    "adaptive_self_key": {"c_sigma": np.logspace(-1, 2, 7), "c_eta": np.logspace(-1, 2, 9)},
}


@pytest.fixture(scope="module", autouse=True)
def _float64(x64_module):
    """Agreement with the numpy formulas to 1e-10 is a float64 statement (the last test runs in float32)."""


@pytest.fixture(scope="module")
def ctx():
    return sample_contexts(jax.random.key(11), TASK, 48)


def ref_loss(ctx, method, p):
    """Mean cross-entropy from the float64 numpy formulas, one context at a time."""
    c = ref.as_np(ctx)
    total = 0.0
    for b in range(ctx.batch):
        args = (c["xs"][b], c["ys"][b], c["xq"][b], TASK.C)
        if method == "gd":
            z = ref.gd(*args, p["eta"])
        elif method == "kernel_gd":
            z = ref.kernel_gd(*args, p["eta"], p["sigma2"])
        else:
            z = ref.adaptive(*args, p["c_eta"], p["c_sigma"], method == "adaptive_self_key")
        total -= ref.log_softmax(z)[c["yq"][b]]
    return total / ctx.batch


def test_default_grids_follow_spec():
    g = fit.default_grid("gd", 5)
    assert list(g) == ["eta"] and len(g["eta"]) == 100
    np.testing.assert_allclose(g["eta"][[0, -1]], [1.0, 10**2.5])
    g = fit.default_grid("kernel_gd", 5)
    assert list(g) == ["sigma2", "eta"]
    np.testing.assert_allclose(g["sigma2"][[0, -1]], [1e-3, 1e2])
    np.testing.assert_allclose(g["eta"][[0, -1]], [1.0, 1e3])
    assert np.all(np.diff(np.log(g["eta"])) > 0)
    want = {
        2: ((1, 10**3.5), (0.1, 100)),
        3: ((0.1, 100), (0.1, 100)),
        5: ((0.1, 100), (0.1, 100)),
        10: ((1e-3, 10), (10, 1e4)),
    }
    for method in ("adaptive", "adaptive_self_key"):
        for d, (cs, ce) in want.items():
            g = fit.default_grid(method, d)
            assert list(g) == ["c_sigma", "c_eta"] and all(len(v) == 100 for v in g.values())
            np.testing.assert_allclose(g["c_sigma"][[0, -1]], cs)
            np.testing.assert_allclose(g["c_eta"][[0, -1]], ce)
    # Other d take the nearest listed d.
    for d, near in [(4, 3), (7, 5), (8, 10), (40, 10)]:
        for k in ("c_sigma", "c_eta"):
            np.testing.assert_array_equal(fit.default_grid("adaptive", d)[k], fit.default_grid("adaptive", near)[k])
    with pytest.raises(ValueError):
        fit.default_grid("newton", 3)


@pytest.mark.parametrize("method", fit.METHODS)
def test_grid_matches_float64_numpy_formulas(ctx, method):
    axes = SMALL[method]
    losses = fit.grid_losses(ctx, method, axes)
    assert losses.shape == tuple(len(v) for v in axes.values())
    rng = np.random.default_rng(0)
    for _ in range(3):
        idx = tuple(int(rng.integers(len(v))) for v in axes.values())
        p = {k: axes[k][i] for k, i in zip(axes, idx)}
        np.testing.assert_allclose(losses[idx], ref_loss(ctx, method, p), rtol=1e-10)


@pytest.mark.parametrize("method", fit.METHODS)
def test_best_is_grid_minimum_and_refinement_never_worse(ctx, method):
    r = fit.fit(ctx, method, SMALL[method])
    assert r.method == method
    assert list(r.axes) == list(r.best) == list(r.refined) == list(fit.PARAM_NAMES[method])
    assert all(isinstance(v, float) for v in (*r.best.values(), *r.refined.values(), r.loss, r.refined_loss))
    assert r.loss == r.losses.min() and np.all(r.loss <= r.losses)
    idx = np.unravel_index(np.argmin(r.losses), r.losses.shape)
    assert r.best == {k: r.axes[k][i] for k, i in zip(r.axes, idx)}
    # The reported losses are those of the closed forms at the reported points.
    np.testing.assert_allclose(r.loss, ref_loss(ctx, method, r.best), rtol=1e-10)
    np.testing.assert_allclose(r.refined_loss, ref_loss(ctx, method, r.refined), rtol=1e-10)
    assert r.refined_loss <= r.loss
    # These grids are coarse, so refinement finds a strictly better point, a local minimum.
    assert r.refined_loss < r.loss - 1e-6
    names = list(r.refined)
    for k in names:
        for f in (0.98, 1.02):
            moved = {**r.refined, k: r.refined[k] * f}
            assert fit.mean_loss(ctx, method, moved) >= r.refined_loss


def test_refinement_keeps_the_grid_point_when_it_cannot_improve(ctx):
    # sigma^2 so small that every kernel value underflows (exp(-800) is 0 in float64): h = 0, a flat landscape
    # at log C. Chosen from these contexts' nearest point to the query.
    c = ref.as_np(ctx)
    d2_min = float(np.min(np.sum((c["xs"] - c["xq"][:, None]) ** 2, -1)))
    start = {"sigma2": d2_min / 1600, "eta": 10.0}
    p, loss = fit.refine(ctx, "kernel_gd", start)
    assert p == start and loss == pytest.approx(math.log(TASK.C), rel=1e-12)
    # A grid loss below anything reachable: the start point and the grid loss come back.
    start = {"c_sigma": 3.0, "c_eta": 2.0}
    p, loss = fit.refine(ctx, "adaptive", start, grid_loss=0.0)
    assert p == start and loss == 0.0


@pytest.mark.parametrize("method", fit.METHODS)
def test_landscape_at_zero_step_is_log_C(ctx, method):
    axes = {k: v.copy() for k, v in SMALL[method].items()}
    scale = list(axes)[-1]
    axes[scale] = np.array([1e-12, 1e-9, 1.0])
    losses = fit.grid_losses(ctx, method, axes)
    np.testing.assert_allclose(losses[..., :2], math.log(TASK.C), rtol=1e-8)
    assert np.all(losses[..., 2] != math.log(TASK.C))


def test_negative_constants_and_shuffled_or_unbalanced_contexts(ctx):
    axes = {"c_sigma": np.array([-3.0, -0.5, 2.0]), "c_eta": np.array([-4.0, 0.0, 1.5, -0.3])}
    base = fit.grid_losses(ctx, "adaptive", axes)
    for i, cs in enumerate(axes["c_sigma"]):
        for j, ce in enumerate(axes["c_eta"]):
            np.testing.assert_allclose(base[i, j], ref_loss(ctx, "adaptive", {"c_sigma": cs, "c_eta": ce}), rtol=1e-10)
    # Context order carries no information: shuffled points give the same landscape.
    perm = jax.random.permutation(jax.random.key(3), TASK.n)
    shuffled = ctx._replace(xs=ctx.xs[:, perm], ys=ctx.ys[:, perm])
    assert fit.group_by_class(shuffled)[1]
    np.testing.assert_allclose(fit.grid_losses(shuffled, "adaptive", axes), base, rtol=1e-12)
    # Unequal class counts take the general one-hot path.
    unbalanced = ctx._replace(ys=ctx.ys.at[:, 0].set(1))
    assert not fit.group_by_class(unbalanced)[1]
    i, j = 2, 2
    np.testing.assert_allclose(
        fit.grid_losses(unbalanced, "adaptive", axes)[i, j],
        ref_loss(unbalanced, "adaptive", {"c_sigma": axes["c_sigma"][i], "c_eta": axes["c_eta"][j]}),
        rtol=1e-10,
    )
    # Refinement keeps the signs of its start.
    r = fit.refine(ctx, "adaptive", {"c_sigma": -0.5, "c_eta": -0.3})
    assert r[0]["c_sigma"] < 0 and r[0]["c_eta"] < 0


def test_closed_form_fn(ctx):
    np.testing.assert_allclose(fit.closed_form_fn("gd", {"eta": 3.0})(ctx), cf.gd_logits(ctx, 3.0))
    np.testing.assert_allclose(
        fit.closed_form_fn("kernel_gd", {"eta": 3.0, "sigma2": 0.2})(ctx), cf.kernel_gd_logits(ctx, 3.0, 0.2)
    )
    p = {"c_eta": 3.0, "c_sigma": 5.0}
    np.testing.assert_allclose(fit.closed_form_fn("adaptive", p)(ctx), cf.adaptive_logits(ctx, 3.0, 5.0))
    np.testing.assert_allclose(
        fit.closed_form_fn("adaptive_self_key", p)(ctx), cf.adaptive_logits(ctx, 3.0, 5.0, self_key=True)
    )
    with pytest.raises(ValueError):
        fit.closed_form_fn("adam", p)


def test_fits_on_disjoint_context_sets_agree():
    """Default grids at d = 3, two disjoint sets of 10,000 contexts, float32 as in the app.

    Between sets the mean loss itself varies by about 2% (sampling noise of a mean of 10,000
    cross-entropies), and c_sigma lies along a shallow valley; the sharp statement is that the
    constants fitted on one set are near-optimal on the other.
    """
    task = TaskConfig(d=3, C=5, n=100)
    with jax.enable_x64(False):
        both = sample_contexts(jax.random.key(5), task, 20_000)
        a, b = both.take(slice(0, 10_000)), both.take(slice(10_000, None))
        for method, fitter in [("gd", fit.fit_gd), ("adaptive", fit.fit_adaptive)]:
            ra, rb = fitter(a), fitter(b)
            assert ra.losses.dtype == np.float64 and ra.losses.size in (100, 10_000)
            assert abs(ra.refined_loss - rb.refined_loss) / rb.refined_loss < 0.1
            for k in ra.refined:
                tol = 0.2 if k == "c_sigma" else 0.1
                assert abs(math.log(ra.refined[k] / rb.refined[k])) < tol, (k, ra.refined, rb.refined)
            assert fit.mean_loss(b, method, ra.refined) <= rb.refined_loss * 1.005
            assert fit.mean_loss(a, method, rb.refined) <= ra.refined_loss * 1.005


@pytest.mark.parametrize("method", ["gd", "adaptive"])
def test_fit_method_is_the_fit_on_the_default_grid(ctx, method):
    got = fit.fit_method(ctx, method)
    want = fit.fit(ctx, method, fit.default_grid(method, TASK.d))
    assert got.method == want.method == method
    assert got.best == want.best and got.refined == want.refined
    np.testing.assert_array_equal(got.losses, want.losses)
    for k, v in fit.default_grid(method, TASK.d).items():
        np.testing.assert_array_equal(got.axes[k], v)


def test_on_edge_flags_an_optimum_at_the_end_of_its_axis(ctx):
    """Etas far below the optimum: the loss falls along the whole axis, so its best point is the last value."""
    low = fit.fit(ctx, "gd", {"eta": np.logspace(-3, -2, 5)})
    assert np.argmin(low.losses) == 4 and low.on_edge == ("eta",)
    ok = fit.fit(ctx, "gd", SMALL["gd"])
    assert 0 < np.argmin(ok.losses) < len(SMALL["gd"]["eta"]) - 1 and ok.on_edge == ()
    # On these 48 small contexts eq. 1's optimum lies down the GD end of its valley (docs/science.md
    # section 6): the grid's best point is interior, but refinement leaves the grid along both axes.
    two = fit.fit(ctx, "adaptive", SMALL["adaptive"])
    i, j = np.unravel_index(np.argmin(two.losses), two.losses.shape)
    assert 0 < i < 6 and 0 < j < 8
    assert two.refined["c_sigma"] < SMALL["adaptive"]["c_sigma"][0] and two.refined["c_eta"] > 100
    assert two.on_edge == ("c_sigma", "c_eta")


def _hand_result(losses, refined):
    axes = {"c_sigma": np.array([1.0, 2.0, 4.0]), "c_eta": np.array([1.0, 10.0, 100.0, 1000.0])}
    i, j = np.unravel_index(np.argmin(losses), losses.shape)
    best = {"c_sigma": float(axes["c_sigma"][i]), "c_eta": float(axes["c_eta"][j])}
    return fit.FitResult(best, float(losses[i, j]), axes, losses, refined, float(losses[i, j]), "adaptive")


def test_on_edge_by_hand():
    losses = np.ones((3, 4))
    losses[1, 2] = 0.5  # interior
    assert _hand_result(losses, {"c_sigma": 2.0, "c_eta": 100.0}).on_edge == ()
    # The refined point left the grid: a bound, not a fit.
    assert _hand_result(losses, {"c_sigma": 5.0, "c_eta": 100.0}).on_edge == ("c_sigma",)
    assert _hand_result(losses, {"c_sigma": 2.0, "c_eta": 0.5}).on_edge == ("c_eta",)
    losses[1, 2], losses[0, 3] = 1.0, 0.2  # first c_sigma, last c_eta
    assert _hand_result(losses, {"c_sigma": 1.0, "c_eta": 1000.0}).on_edge == ("c_sigma", "c_eta")
    losses[0, 3], losses[2, 1] = 1.0, np.nan  # NaN is never the optimum
    losses[1, 1] = 0.3
    assert _hand_result(losses, {"c_sigma": 2.0, "c_eta": 10.0}).on_edge == ()


def test_best_at_holds_one_constant_at_its_nearest_grid_value() -> None:
    """Against a brute-force float64 search: the row of the grid nearest the value (log distance), its argmin."""
    rng = np.random.default_rng(3)
    axes = {"sigma2": np.logspace(-3, 2, 11), "eta": np.logspace(0, 3, 7)}
    losses = rng.random((11, 7))
    losses[4, 2] = np.nan  # a NaN cell is never the best
    result = fit.FitResult(best={}, loss=0.0, axes=axes, losses=losses, refined={}, refined_loss=0.0,
                           method="kernel_gd")
    for value in (2.4e-3, 0.05, 3.3, 80.0):
        i = min(range(11), key=lambda k: abs(np.log10(axes["sigma2"][k]) - np.log10(value)))
        row = np.where(np.isnan(losses[i]), np.inf, losses[i])
        point, loss = fit.best_at(result, "sigma2", value)
        assert point == {"sigma2": axes["sigma2"][i], "eta": axes["eta"][int(np.argmin(row))]}
        assert loss == row.min()
    point, loss = fit.best_at(result, "eta", 10.0)
    col = np.where(np.isnan(losses[:, 2]), np.inf, losses[:, 2])
    assert point["eta"] == axes["eta"][2] and loss == col.min()
