import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine import closed_form as cf
from engine import extract, models
from engine.constructions import softmax_construction
from engine.tasks import TaskConfig, sample_contexts

TASK = TaskConfig(d=3, C=5, n=20)
CONSTANTS = [(4.0, 2.5), (-3.0, -1.5), (0.7, 30.0)]  # (c_eta, c_sigma)


@pytest.fixture(scope="module", autouse=True)
def _float64(x64_module):
    """Exactness of the readings (1e-12) and of the predictions (1e-9) is a float64 statement."""


@pytest.fixture(scope="module")
def ctx():
    return sample_contexts(jax.random.key(21), TASK, 32)


def factorised(A, B):
    """Weights whose products are exactly A and B: W_Q^T W_K = A, W_V^T W_O^T = B."""
    eye = jnp.eye(A.shape[0], dtype=A.dtype)
    return {"W_Q": A.T, "W_K": eye, "W_V": eye, "W_O": B.T}


def disguised(task, c_eta, c_sigma, seed=0):
    """The construction's products with every change that cannot reach the prediction: noise in A's
    y-rows (q has no y-part) and in B's x-columns (only the last C outputs are read), and a constant
    added to each whole row of B's y-columns (the same shift of every logit)."""
    A, B = models.products(softmax_construction(task, c_eta, c_sigma))
    d, D = task.d, task.D
    rng = np.random.default_rng(seed)
    A = A.at[d:, :].add(rng.normal(size=(task.C, D)))
    B = B.at[:, :d].add(rng.normal(size=(D, d)))
    B = B.at[:, d:].add(rng.normal(size=(D, 1)) * 3.0)
    return factorised(A, B)


def probs(params, ctx, query_in_keys):
    return np.asarray(jax.nn.softmax(models.logits(params, ctx, "softmax", query_in_keys=query_in_keys), -1))


@pytest.mark.parametrize("c_eta, c_sigma", CONSTANTS)
def test_constants_of_the_construction_are_exact(c_eta, c_sigma):
    got = extract.effective_constants(softmax_construction(TASK, c_eta, c_sigma), TASK)
    assert all(isinstance(v, float) for v in got)
    np.testing.assert_allclose(got, (c_sigma, c_eta), rtol=1e-12)


@pytest.mark.parametrize("c_eta, c_sigma", CONSTANTS)
def test_extraction_ignores_what_the_prediction_ignores(ctx, c_eta, c_sigma):
    params = disguised(TASK, c_eta, c_sigma)
    # The disguise really changed the weights and their y-block ...
    _, B = models.products(params)
    _, B0 = models.products(softmax_construction(TASK, c_eta, c_sigma))
    assert np.max(np.abs(np.asarray(B - B0)[TASK.d :, TASK.d :])) > 0.1
    # ... but neither the constants read from them ...
    c_sigma_x, c_eta_x = extract.effective_constants(params, TASK)
    np.testing.assert_allclose((c_sigma_x, c_eta_x), (c_sigma, c_eta), rtol=1e-12)
    # ... nor the predictions, which the construction rebuilt from the constants reproduces.
    rebuilt = softmax_construction(TASK, c_eta_x, c_sigma_x)
    for qk in (True, False):
        p = probs(params, ctx, qk)
        np.testing.assert_allclose(p, probs(rebuilt, ctx, qk), rtol=1e-9, atol=1e-13)
        want = jax.nn.softmax(cf.adaptive_logits(ctx, c_eta, c_sigma, self_key=qk), -1)
        np.testing.assert_allclose(p, want, rtol=1e-9, atol=1e-13)


def test_column_shifts_are_not_ignored(ctx):
    """Shifting B's y-block by columns (the transposed orientation) moves the predictions: the row
    rule is the right one for B = W_V^T W_O^T acting on rows."""
    A, B = models.products(softmax_construction(TASK, 4.0, 2.5))
    shift = jnp.arange(TASK.C, dtype=B.dtype)[None, :]
    moved = factorised(A, B.at[TASK.d :, TASK.d :].add(shift))
    assert np.max(np.abs(probs(moved, ctx, True) - probs(softmax_construction(TASK, 4.0, 2.5), ctx, True))) > 1e-3


def test_strategy():
    for c_eta, c_sigma in [(4.0, 2.5), (0.7, 30.0)]:
        name, margin = extract.strategy(softmax_construction(TASK, c_eta, c_sigma), TASK)
        assert name == "selection" and margin == pytest.approx(c_sigma / math.sqrt(TASK.D) + c_eta)
        name, margin = extract.strategy(disguised(TASK, -c_eta, -c_sigma, seed=4), TASK)
        assert name == "elimination" and margin == pytest.approx(c_sigma / math.sqrt(TASK.D) + c_eta)
    # Disagreeing signs: the larger constant in logit units decides.
    assert extract.strategy(softmax_construction(TASK, -0.1, 30.0), TASK)[0] == "selection"
    assert extract.strategy(softmax_construction(TASK, -5.0, 3.0), TASK)[0] == "elimination"


@pytest.mark.parametrize("query_in_keys", [True, False])
def test_check_extracted(ctx, query_in_keys):
    c_eta, c_sigma = 4.0, 2.5
    params = disguised(TASK, c_eta, c_sigma, seed=1)
    rows = extract.check_extracted(params, ctx, c_sigma, c_eta, self_key=query_in_keys, query_in_keys=query_in_keys)
    assert [(r["which"], r["factor"]) for r in rows] == [
        (w, f) for w in ("c_sigma", "c_eta") for f in extract.CHECK_FACTORS
    ]
    for r in rows:
        assert r["c_sigma"] == c_sigma * (r["factor"] if r["which"] == "c_sigma" else 1.0)
        assert r["c_eta"] == c_eta * (r["factor"] if r["which"] == "c_eta" else 1.0)
        per = r.pop("per_context")
        assert all(isinstance(v, (str, float)) for v in r.values())
        assert set(per) == {"preds_diff"} | {
            f"{m}_{s}" for m in ("loss", "p_correct", "entropy") for s in ("model", "closed_form")
        }
        assert all(v.shape == (ctx.batch,) for v in per.values())
        np.testing.assert_allclose(r["loss_model"], per["loss_model"].mean())
        if r["factor"] == 1.0:
            assert r["preds_diff"] < 1e-12
            np.testing.assert_allclose(per["loss_model"], per["loss_closed_form"], rtol=1e-10)
        else:  # moved off the extracted values, eq. (1) visibly departs from the model
            assert r["preds_diff"] > 1e-3
    # The mismatched closed form (query among keys vs not) leaves a gap even at the extracted values.
    other = extract.check_extracted(
        params, ctx, c_sigma, c_eta, factors=(1.0,), self_key=not query_in_keys, query_in_keys=query_in_keys
    )
    assert other[0]["preds_diff"] > 1e-6


def test_check_extracted_defaults_to_the_papers_model(ctx):
    """By default the layer has the query outside its keys and is checked against plain eq. 1."""
    params = disguised(TASK, 4.0, 2.5, seed=2)
    rows = extract.check_extracted(params, ctx, 2.5, 4.0, factors=(1.0,))
    assert [(r["which"], r["factor"]) for r in rows] == [("c_sigma", 1.0), ("c_eta", 1.0)]
    assert all(r["preds_diff"] < 1e-12 for r in rows)
    explicit = extract.check_extracted(params, ctx, 2.5, 4.0, factors=(1.0,), self_key=False, query_in_keys=False)
    for a, b in zip(rows, explicit, strict=True):
        np.testing.assert_array_equal(a["per_context"]["loss_model"], b["per_context"]["loss_model"])
        np.testing.assert_array_equal(a["per_context"]["loss_closed_form"], b["per_context"]["loss_closed_form"])


def test_path_reads_each_snapshot_like_the_weights_and_gives_the_linear_rate():
    """The path's points are the constants of each stored (A, B) snapshot; a linear construction's point
    carries its own eq. (2) rate as eta."""
    from engine.constructions import linear_construction

    snaps = []
    for step, (c_eta, c_sigma) in enumerate(CONSTANTS):
        A, B = models.products(disguised(TASK, c_eta, c_sigma, seed=step))
        snaps.append({"step": 10 * step, "A": np.asarray(A).tolist(), "B": np.asarray(B).tolist()})
    A, B = models.products(linear_construction(TASK, 7.5))
    snaps.append({"step": 99, "A": np.asarray(A).tolist(), "B": np.asarray(B).tolist()})
    got = extract.path(snaps, TASK)
    assert [p["idx"] for p in got] == [0, 1, 2, 3] and [p["step"] for p in got] == [0, 10, 20, 99]
    for p, (c_eta, c_sigma) in zip(got, CONSTANTS):
        np.testing.assert_allclose((p["c_sigma"], p["c_eta"]), (c_sigma, c_eta), rtol=1e-9)
        np.testing.assert_allclose(p["eta"], TASK.n * c_sigma * c_eta, rtol=1e-9)
    np.testing.assert_allclose(got[-1]["eta"], 7.5, rtol=1e-12)


def _rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


def scaled_kernel_layer(task, alpha, beta, b, seed=0):
    """A kernel layer that is eq. 3 in disguise: W_Q = alpha R, W_K = beta R on the x-block (R a rotation, which
    the kernel's |W_Q q - W_K x|^2 cannot see), W_V W_O carrying b on the labels plus a shift of every logit alike.
    With the layer's kernel width 1 it is eq. 3 at sigma^2 = 1 / (alpha beta), eta = n b exp(-(alpha - beta)^2 / 2)."""
    d, D = task.d, task.D
    R = _rotation(d, seed)
    W_Q = np.zeros((D, D))
    W_K = np.zeros((D, D))
    W_Q[:d, :d], W_K[:d, :d] = alpha * R, beta * R
    B = np.zeros((D, D))
    B[d:, d:] = b * np.eye(task.C) + np.random.default_rng(seed + 1).normal(size=(task.C, 1))
    values = factorised(jnp.eye(D), jnp.asarray(B))
    return {"W_Q": jnp.asarray(W_Q), "W_K": jnp.asarray(W_K), "W_V": values["W_V"], "W_O": values["W_O"]}


def _eq3_float64(ctx, sigma2, eta):
    """Eq. 3 written out in numpy: (eta / n) sum_i y_i exp(-|x_i - x_q|^2 / (2 sigma^2))."""
    xs, xq, ys = (np.asarray(a, np.float64) for a in (ctx.xs, ctx.xq, ctx.ys))
    k = np.exp(-np.sum((xs - xq[:, None]) ** 2, -1) / (2 * sigma2))
    onehot = np.eye(ctx.protos.shape[1])[ys.astype(int)]
    return eta / xs.shape[1] * np.einsum("bn,bnc->bc", k, onehot)


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(-1, keepdims=True)


@pytest.mark.parametrize("sigma2, eta", [(0.13, 129.0), (0.97, 134.0), (2.0, 5.0)])
def test_kernel_constants_of_the_construction_are_exact(sigma2, eta):
    from engine.constructions import kernel_construction

    got = extract.kernel_constants(kernel_construction(TASK, eta), TASK, sigma2=sigma2)
    np.testing.assert_allclose(got, (sigma2, eta), rtol=1e-12)


@pytest.mark.parametrize("alpha, beta, b", [(3.0, 3.0, 1.3), (4.0, 2.0, 1.0), (1.5, 0.5, -2.0)])
def test_kernel_reading_predicts_like_the_layer(ctx, alpha, beta, b):
    """Read off weights that are eq. 3 in disguise (unequal scales of W_Q and W_K, a rotation, shifted logits), the
    constants give back the layer's predictions through eq. 3 written in numpy."""
    params = scaled_kernel_layer(TASK, alpha, beta, b)
    sigma2, eta = extract.kernel_constants(params, TASK)
    np.testing.assert_allclose(sigma2, 1 / (alpha * beta), rtol=1e-12)
    np.testing.assert_allclose(eta, TASK.n * b * math.exp(-((alpha - beta) ** 2) / 2), rtol=1e-12)
    layer = _softmax(np.asarray(models.logits(params, ctx, "kernel"), np.float64))
    np.testing.assert_allclose(layer, _softmax(_eq3_float64(ctx, sigma2, eta)), atol=1e-12)


def test_kernel_reading_checks_at_and_off_the_read_constants(ctx):
    params = scaled_kernel_layer(TASK, 3.0, 2.0, 1.3, seed=3)
    consts, rows = extract.kernel_reading(params, ctx, factors=(0.5, 1.0, 2.0))
    assert [(r["which"], r["factor"]) for r in rows] == [(w, f) for w in ("sigma2", "eta") for f in (0.5, 1.0, 2.0)]
    for r in rows:
        moved = {k: v * (r["factor"] if k == r["which"] else 1.0) for k, v in consts.items()}
        assert (r["sigma2"], r["eta"]) == pytest.approx((moved["sigma2"], moved["eta"]), rel=1e-12)
        assert (r["preds_diff"] < 1e-12) == (r["factor"] == 1.0)
        assert r["factor"] == 1.0 or r["preds_diff"] > 1e-3
