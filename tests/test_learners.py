"""engine.learners: every learner behind one interface (a layer with its weights, or a closed form with its
constants). Logits and attention on the context points against float64 numpy formulas written from
docs/science.md sections 2-4 (tests/reference.py and the query-row attention below), softmax rows summing to one,
each construction equal to its closed form, and the key that names a learner for the caches."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine import closed_form, learners, models
from engine.tasks import TaskConfig, sample_contexts
from tests import reference as ref

TASK = TaskConfig(d=3, C=3, n=6)
B = 4
CONSTS = {
    "gd": {"eta": 7.0},
    "kernel_gd": {"eta": 7.0, "sigma2": 0.6},
    "adaptive": {"c_sigma": 5.0, "c_eta": 2.5},
    "adaptive_self_key": {"c_sigma": 5.0, "c_eta": 2.5},
}
# The constants of each construction: eta (and the kernel layer's width), or c_sigma and c_eta.
CONSTRUCTION_CONSTS = {"linear": {"eta": 7.0}, "kernel": {"eta": 7.0, "sigma2": 0.6},
                       "softmax": {"c_sigma": 5.0, "c_eta": 2.5}}


@pytest.fixture(scope="module", autouse=True)
def _float64(x64_module):
    """Agreement with the float64 references to ~1e-10 is a float64 statement."""


@pytest.fixture(scope="module")
def ctx():
    return sample_contexts(jax.random.key(11), TASK, B)


@pytest.fixture(scope="module")
def ctx_np(ctx):
    return ref.as_np(ctx)


@pytest.fixture(scope="module")
def params():
    return {k: np.asarray(v) for k, v in models.init_params(jax.random.key(5), TASK, scale=0.7).items()}


# ---------------------------------------------------------------- independent float64 formulas


def closed_form_weights(method: str, consts: dict, xs, xq) -> np.ndarray:
    """The weight each context label gets (learners' docstring): eq. 2 (eta/n) x_i.x_q, eq. 3 (eta/n) k(x_i, x_q),
    eq. 1 softmax_i(c_sigma x_i.x_q / sqrt(D)) (with the query's own score in the denominator for self-key)."""
    n, d = xs.shape
    if method == "gd":
        return consts["eta"] / n * (xs @ xq)
    if method == "kernel_gd":
        return consts["eta"] / n * np.exp(-((xs - xq) ** 2).sum(-1) / (2 * consts["sigma2"]))
    s = consts["c_sigma"] * (xs @ xq) / np.sqrt(d + TASK.C)
    if method == "adaptive":
        return ref.softmax(s)
    s_self = consts["c_sigma"] * (xq @ xq) / np.sqrt(d + TASK.C)
    return np.exp(s - s.max()) / (np.exp(s - s.max()).sum() + np.exp(s_self - s.max()))


def closed_form_logits(method: str, consts: dict, xs, ys, xq) -> np.ndarray:
    if method == "gd":
        return ref.gd(xs, ys, xq, TASK.C, consts["eta"])
    if method == "kernel_gd":
        return ref.kernel_gd(xs, ys, xq, TASK.C, consts["eta"], consts["sigma2"])
    return ref.adaptive(xs, ys, xq, TASK.C, consts["c_eta"], consts["c_sigma"], method == "adaptive_self_key")


def layer_attention(params, xs, ys, xq, kind, sigma2=models.DEFAULT_SIGMA2, query_in_keys=False) -> np.ndarray:
    """The query's row of full attention over all n + 1 tokens (docs/science.md section 2), its n context entries."""
    WQ, WK = (np.asarray(params[k], np.float64) for k in ("W_Q", "W_K"))
    X = ref.token_matrix(xs, ys, xq, TASK.C)
    Q, K = X @ WQ.T, X @ WK.T
    q = Q[-1]
    if kind == "linear":
        row = K @ q
    elif kind == "kernel":
        row = np.exp(-((K - q) ** 2).sum(-1) / (2 * sigma2))
    else:
        s = K @ q / np.sqrt(X.shape[1])
        row = ref.softmax(s if query_in_keys else s[:-1])
    return row[: len(xs)]


# ---------------------------------------------------------------- closed forms


@pytest.mark.parametrize("method", closed_form.METHODS)
def test_closed_form_logits_and_weights_match_numpy(ctx, ctx_np, method):
    learner = learners.of_closed_form(method, CONSTS[method])
    lg, w = (np.asarray(a) for a in learners.predict(learner, ctx))
    assert lg.shape == (B, TASK.C) and w.shape == (B, TASK.n)
    for b in range(B):
        xs, ys, xq = ctx_np["xs"][b], ctx_np["ys"][b], ctx_np["xq"][b]
        np.testing.assert_allclose(lg[b], closed_form_logits(method, CONSTS[method], xs, ys, xq), rtol=1e-10,
                                   atol=1e-12)
        want_w = closed_form_weights(method, CONSTS[method], xs, xq)
        np.testing.assert_allclose(w[b], want_w, rtol=1e-10, atol=1e-12)
        # The weights are what each label gets: the logits are their label sums (times c_eta for eq. 1).
        scale = CONSTS[method].get("c_eta", 1.0)
        np.testing.assert_allclose(lg[b], scale * np.eye(TASK.C)[ys].T @ want_w, rtol=1e-10, atol=1e-12)


def test_eq1_weights_sum_to_one_and_self_key_loses_the_query_share(ctx, ctx_np):
    _, w = learners.predict(learners.of_closed_form("adaptive", CONSTS["adaptive"]), ctx)
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-12)
    _, w_self = learners.predict(learners.of_closed_form("adaptive_self_key", CONSTS["adaptive"]), ctx)
    D = TASK.D
    for b in range(B):
        s = CONSTS["adaptive"]["c_sigma"] * ctx_np["xs"][b] @ ctx_np["xq"][b] / np.sqrt(D)
        # |x_q| = 1: the query's own score is c_sigma / sqrt(D), and its share is what the context misses
        share = np.exp(CONSTS["adaptive"]["c_sigma"] / np.sqrt(D))
        share /= share + np.exp(s).sum()
        np.testing.assert_allclose(1.0 - float(np.asarray(w_self)[b].sum()), share, rtol=1e-10)


# ---------------------------------------------------------------- layers


@pytest.mark.parametrize("query_in_keys", [False, True])
@pytest.mark.parametrize("kind", models.KINDS)
def test_layer_logits_and_attention_match_full_attention(ctx, ctx_np, params, kind, query_in_keys):
    learner = learners.of_run(kind, params, query_in_keys, f"test:{kind}:{query_in_keys}", "random")
    lg, w = (np.asarray(a) for a in learners.predict(learner, ctx))
    assert lg.shape == (B, TASK.C) and w.shape == (B, TASK.n)
    for b in range(B):
        xs, ys, xq = ctx_np["xs"][b], ctx_np["ys"][b], ctx_np["xq"][b]
        want = ref.model_logits(params, xs, ys, xq, TASK.C, kind, models.DEFAULT_SIGMA2, query_in_keys)
        np.testing.assert_allclose(lg[b], want, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(w[b], layer_attention(params, xs, ys, xq, kind, query_in_keys=query_in_keys),
                                   rtol=1e-10, atol=1e-12)


def test_softmax_layer_rows_sum_to_one_without_the_query(ctx, params):
    _, w = learners.predict(learners.of_run("softmax", params, False, "a", "r"), ctx)
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-12)
    _, w_q = learners.predict(learners.of_run("softmax", params, True, "b", "r"), ctx)
    total = np.asarray(w_q).sum(-1)
    assert np.all(total < 1.0) and np.all(total > 0.0)  # the query's own key takes the rest


def test_kernel_layer_reads_its_width_from_the_constants(ctx, ctx_np, params):
    """A kernel layer's sigma^2 comes from its constants (as the kernel construction's does), else the default."""
    learner = learners.Learner("k", "k", "kernel", (("sigma2", 0.3),), tuple(params.items()))
    lg = np.asarray(learners.predict(learner, ctx)[0])
    for b in range(B):
        want = ref.model_logits(params, ctx_np["xs"][b], ctx_np["ys"][b], ctx_np["xq"][b], TASK.C, "kernel", 0.3,
                                False)
        np.testing.assert_allclose(lg[b], want, rtol=1e-10, atol=1e-12)
    default = np.asarray(learners.predict(learners.of_run("kernel", params, False, "k1", "r"), ctx)[0])
    assert not np.allclose(lg, default)


# ---------------------------------------------------------------- constructions


@pytest.mark.parametrize("query_in_keys", [False, True])
@pytest.mark.parametrize("kind", models.KINDS)
def test_construction_equals_its_closed_form(ctx, kind, query_in_keys):
    consts = CONSTRUCTION_CONSTS[kind]
    con = learners.of_construction(kind, TASK, consts, query_in_keys)
    method = closed_form.represented_by(kind, query_in_keys)
    cf = learners.of_closed_form(method, consts)
    assert con.represents == cf.represents == method and cf.is_closed_form and not con.is_closed_form
    assert closed_form.NAMES[method] in con.note and con.query_in_keys == query_in_keys
    (lg_con, w_con), (lg_cf, w_cf) = (learners.predict(m, ctx) for m in (con, cf))
    np.testing.assert_allclose(lg_con, lg_cf, rtol=1e-10, atol=1e-12)
    # Softmax attention is eq. 1's weights; linear and kernel attention are the label weights without eta / n.
    factor = 1.0 if kind == "softmax" else consts["eta"] / TASK.n
    np.testing.assert_allclose(factor * np.asarray(w_con), w_cf, rtol=1e-10, atol=1e-12)


def test_softmax_construction_is_not_the_other_eq1(ctx):
    """With the query among its keys the construction computes eq. 1 self-key, not eq. 1 (and the reverse):
    the construction tests above could not tell the two apart if they were equal here."""
    consts = CONSTRUCTION_CONSTS["softmax"]
    with_q = learners.predict(learners.of_construction("softmax", TASK, consts, True), ctx)[0]
    plain = learners.predict(learners.of_closed_form("adaptive", consts), ctx)[0]
    assert ref.rel(with_q, plain) > 1e-3


def test_construction_weights_are_the_documented_blocks():
    """A = W_Q^T W_K and B = W_V^T W_O^T of docs/science.md section 4's table, from the learner's weights."""
    d, C = TASK.d, TASK.C

    def blocks(x, y):
        return np.diag([x] * d + [y] * C)

    for kind, (A, Bm) in {"linear": (blocks(1, 0), blocks(0, 7.0 / TASK.n)),
                          "kernel": (blocks(1, 0), blocks(0, 7.0 / TASK.n)),
                          "softmax": (blocks(5.0, 0), blocks(0, 2.5))}.items():
        w = learners.of_construction(kind, TASK, CONSTRUCTION_CONSTS[kind]).weights
        assert set(w) == set(models.MATRICES)
        np.testing.assert_allclose(w["W_Q"].T @ w["W_K"], A, atol=1e-15)
        np.testing.assert_allclose(w["W_V"].T @ w["W_O"].T, Bm, atol=1e-15)


# ---------------------------------------------------------------- probabilities and logits_fn


@pytest.mark.parametrize("which", ["gd", "adaptive_self_key", "linear", "softmax"])
def test_probabilities_and_logits_fn_agree_with_predict(ctx, params, which):
    learner = (learners.of_closed_form(which, CONSTS[which]) if which in closed_form.METHODS
               else learners.of_run(which, params, True, which, "r"))
    lg, w = (np.asarray(a, np.float64) for a in learners.predict(learner, ctx))
    p, w2 = learners.probabilities(learner, ctx)
    assert isinstance(p, np.ndarray) and isinstance(w2, np.ndarray)
    np.testing.assert_allclose(p, ref.softmax(lg), rtol=1e-12)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(w2, w)
    np.testing.assert_allclose(learners.logits_fn(learner)(ctx), lg, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method", ["adaptive", "adaptive_self_key"])
def test_logits_fn_is_differentiable_in_the_query(ctx, ctx_np, method):
    """`metrics.alignment` differentiates logits_fn through x_q: its Jacobian is eq. 1's analytic one."""
    f = learners.logits_fn(learners.of_closed_form(method, CONSTS[method]))
    one = ctx.take(slice(0, 1))
    J = jax.jacobian(lambda xq: f(one._replace(xq=xq[None]))[0])(one.xq[0])
    want = ref.adaptive_jacobian(ctx_np["xs"][0], ctx_np["ys"][0], ctx_np["xq"][0], TASK.C, CONSTS[method]["c_eta"],
                                 CONSTS[method]["c_sigma"], method == "adaptive_self_key")
    np.testing.assert_allclose(J, want, rtol=1e-9, atol=1e-12)


def test_predict_compiles_once_per_kind_not_per_constant(ctx):
    """Constants are arguments of the compiled program: a fitted closed form at new constants reuses it."""
    fn = learners._jitted("gd", False)
    learners.predict(learners.of_closed_form("gd", {"eta": 1.0}), ctx)
    before = fn._cache_size()
    lg2 = learners.predict(learners.of_closed_form("gd", {"eta": 2.0}), ctx)[0]
    assert fn._cache_size() == before
    np.testing.assert_allclose(lg2, 2 * learners.predict(learners.of_closed_form("gd", {"eta": 1.0}), ctx)[0],
                               rtol=1e-12)


# ---------------------------------------------------------------- names and keys


def test_names_constants_and_weights():
    cf = learners.of_closed_form("kernel_gd", {"sigma2": 0.5, "eta": 3})
    assert cf.constants == {"eta": 3.0, "sigma2": 0.5} and cf.weights == {} and cf.kind == "kernel_gd"
    assert cf.short_name == "kernel GD (eq. 3)" and cf.label == "kernel GD (eq. 3) (eta=3, sigma2=0.5)"
    assert learners.of_closed_form("adaptive_self_key", CONSTS["adaptive"]).short_name == "eq. 1 self-key"
    p = {k: np.eye(TASK.D) for k in models.MATRICES}
    run = learners.of_run("softmax", p, np.True_, "runs/x@1", "x", note="trained")
    assert run.query_in_keys is True and run.key == "runs/x@1" and run.note == "trained"
    assert run.short_name == "softmax SA (query among its keys)" and run.represents == "adaptive_self_key"
    assert run.label == "softmax SA (run x)" and run.constants == {}
    assert learners.of_run("softmax", p, False, "k", "x").short_name == "softmax SA"
    assert learners.of_run("linear", p, True, "k", "x").short_name == "linear SA"  # no variant for linear
    assert set(run.weights) == set(models.MATRICES) and all(isinstance(v, np.ndarray) for v in run.weights.values())


def test_key_names_the_learner_completely():
    """Equal inputs give equal keys (whatever the constants' order or numeric type); any difference in method,
    constants, kind, task or variant gives another key. The caches (ui.loaders.BY_KEY) rely on both."""
    cf = learners.of_closed_form
    assert cf("kernel_gd", {"eta": 2, "sigma2": 0.5}).key == cf("kernel_gd", {"sigma2": 0.5, "eta": 2.0}).key
    con = learners.of_construction
    assert con("softmax", TASK, {"c_sigma": 5, "c_eta": 2.5}).key == con("softmax", TASK, {"c_eta": 2.5,
                                                                                          "c_sigma": 5.0}).key
    every = [
        cf("gd", {"eta": 1.0}), cf("gd", {"eta": 1.0 + 1e-12}), cf("gd", {"eta": 2.0}),
        cf("kernel_gd", {"eta": 1.0, "sigma2": 0.5}), cf("kernel_gd", {"eta": 1.0, "sigma2": 0.25}),
        cf("adaptive", {"c_sigma": 5.0, "c_eta": 2.5}), cf("adaptive_self_key", {"c_sigma": 5.0, "c_eta": 2.5}),
        cf("adaptive", {"c_sigma": 2.5, "c_eta": 5.0}),
        con("linear", TASK, {"eta": 1.0}), con("kernel", TASK, {"eta": 1.0}),
        con("linear", TaskConfig(3, 3, 9), {"eta": 1.0}), con("linear", TaskConfig(2, 3, 6), {"eta": 1.0}),
        con("linear", TASK, {"eta": 1.0}, query_in_keys=True),
        con("softmax", TASK, {"c_sigma": 5.0, "c_eta": 2.5}),
        con("softmax", TASK, {"c_sigma": 5.0, "c_eta": 2.5}, query_in_keys=True),
        con("kernel", TASK, {"eta": 1.0, "sigma2": 0.5}),
    ]
    assert len({m.key for m in every}) == len(every)


def test_same_key_same_predictions(ctx):
    """Two learners built apart under one key compute the same thing (a cache hit is the right answer)."""
    a = learners.of_construction("softmax", TASK, {"c_sigma": 5.0, "c_eta": 2.5})
    b = learners.of_construction("softmax", TASK, {"c_eta": 2.5, "c_sigma": 5})
    assert a.key == b.key
    for x, y in zip(learners.predict(a, ctx), learners.predict(b, ctx)):
        np.testing.assert_array_equal(x, y)


def test_predict_keeps_the_contexts_dtype(ctx):
    lg, w = learners.predict(learners.of_closed_form("adaptive", CONSTS["adaptive"]), ctx)
    assert lg.dtype == w.dtype == ctx.xs.dtype == jnp.float64


def test_learners_compare_and_hash_by_their_key():
    """A layer's weights are arrays (no single truth value): equality, sets and `in` go by the key that names it."""
    import numpy as np

    from engine.learners import Learner

    w = (("W_Q", np.eye(3)),)
    a, b = Learner("run:x", "x", "softmax", params=w), Learner("run:x", "x again", "softmax", params=w)
    c = Learner("run:y", "y", "softmax", params=w)
    assert a == b and a != c and hash(a) == hash(b) and len({a, b, c}) == 2 and c in [a, c]
