"""engine.closed_form: eq. 2, eq. 3, eq. 1 and eq. 1 self-key against float64 numpy formulas, the closed
form each layer represents, and the identities of docs/science.md sections 3 and 6."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine import closed_form as cf
from tests import reference as ref


@pytest.fixture(scope="module", autouse=True)
def _float64(x64_module):
    """Agreement with the numpy formulas to 1e-12 is a float64 statement."""


def test_closed_forms_match_numpy_formulas(small_contexts):
    task, ctx = small_contexts
    c = ref.as_np(ctx)
    for b in range(ctx.batch):
        args = (c["xs"][b], c["ys"][b], c["xq"][b], task.C)
        np.testing.assert_allclose(cf.gd_logits(ctx, 2.0)[b], ref.gd(*args, 2.0), rtol=1e-12)
        np.testing.assert_allclose(cf.kernel_gd_logits(ctx, 2.0, 0.5)[b], ref.kernel_gd(*args, 2.0, 0.5), rtol=1e-12)
        for sk in (False, True):
            np.testing.assert_allclose(
                cf.adaptive_logits(ctx, 3.0, 7.0, self_key=sk)[b], ref.adaptive(*args, 3.0, 7.0, sk), rtol=1e-12
            )


def test_adaptive_weights_are_a_distribution_that_self_key_shrinks(small_contexts):
    """Eq. 1's weights sum to one over the context; with the query's own key they sum to less, by exactly
    the query's share e^{c_sigma/sqrt(D)} / (sum_j e^{s_j} + e^{c_sigma/sqrt(D)})."""
    task, ctx = small_contexts
    c = ref.as_np(ctx)
    w = np.asarray(cf.adaptive_weights(ctx, 7.0))
    w_sk = np.asarray(cf.adaptive_weights(ctx, 7.0, self_key=True))
    assert w.shape == w_sk.shape == (ctx.batch, task.n) and np.all(w > 0)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-12)
    a = 7.0 / np.sqrt(task.D)
    s = a * np.einsum("bnd,bd->bn", c["xs"], c["xq"])
    own = np.exp(a) / (np.exp(s).sum(-1) + np.exp(a))
    np.testing.assert_allclose(w_sk.sum(-1), 1.0 - own, rtol=1e-12)
    np.testing.assert_allclose(w_sk, w * (1.0 - own)[:, None], rtol=1e-12)


def test_rbf_and_label_sums(small_contexts):
    task, ctx = small_contexts
    c = ref.as_np(ctx)
    k = np.exp(-((c["xs"] - c["xq"][:, None]) ** 2).sum(-1) / (2 * 0.3))
    np.testing.assert_allclose(cf.rbf(ctx, 0.3), k, rtol=1e-12)
    w = np.random.default_rng(0).normal(size=(ctx.batch, task.n))
    want = np.einsum("bn,bnc->bc", w, np.eye(task.C)[c["ys"]])
    np.testing.assert_allclose(cf.label_sums(jnp.asarray(w), ctx), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("self_key", [False, True])
@pytest.mark.parametrize("c_eta, c_sigma", [(3.0, 7.0), (0.5, 40.0), (-2.0, -3.0)])
def test_eq1_is_kernel_gd_with_the_adaptive_rate(small_contexts, self_key, c_eta, c_sigma):
    """docs/science.md section 3: eq. 1 equals kernel GD (eq. 3) at sigma^2 = sqrt(D) / c_sigma with the rate
    eta(X) = c_eta e^{1/sigma^2} n / sum_j e^{x_j.x_q/sigma^2} (the query's own term in the sum for self-key)."""
    task, ctx = small_contexts
    c = ref.as_np(ctx)
    sigma2 = np.sqrt(task.D) / c_sigma
    eta = np.array([ref.adaptive_eta(c["xs"][b], c["xq"][b], c_eta, c_sigma, task.C, self_key)
                    for b in range(ctx.batch)])
    via_kernel = cf.kernel_gd_logits(ctx, jnp.asarray(eta)[:, None], sigma2)
    eq1 = cf.adaptive_logits(ctx, c_eta, c_sigma, self_key)
    np.testing.assert_allclose(via_kernel, eq1, rtol=1e-10, atol=1e-12 * abs(c_eta))
    # The rate adapts: it is not one number across contexts (the kernel mass around x_q differs).
    assert np.std(eta) > 1e-3 * abs(np.mean(eta))


def test_eq1_logit_spread_is_bounded_by_c_eta_while_kernel_gd_grows_with_density(small_contexts):
    """Eq. 1 averages the kernel weights (a spread of at most |c_eta| wherever x_q falls); eq. 3 adds them."""
    task, ctx = small_contexts
    eq1 = np.asarray(cf.adaptive_logits(ctx, 3.0, 40.0))
    assert np.all(eq1.max(-1) - eq1.min(-1) <= 3.0 + 1e-12)
    # Doubling every point (the same context, twice as dense) leaves eq. 1 alone and doubles eq. 3's sums.
    dense = ctx._replace(xs=jnp.concatenate([ctx.xs, ctx.xs], 1), ys=jnp.concatenate([ctx.ys, ctx.ys], 1))
    np.testing.assert_allclose(cf.adaptive_logits(dense, 3.0, 40.0), eq1, rtol=1e-12)
    n = task.n
    k1 = np.asarray(cf.kernel_gd_logits(ctx, 1.0, 0.5)) * n
    k2 = np.asarray(cf.kernel_gd_logits(dense, 1.0, 0.5)) * 2 * n
    np.testing.assert_allclose(k2, 2 * k1, rtol=1e-12)


def test_eq1_becomes_gd_along_the_valley(small_contexts):
    """docs/science.md section 6: for small c_sigma with c_sigma * c_eta = P fixed, eq. 1's predictions tend
    to GD's at eta = P / sqrt(D) (balanced classes: the constant part of the softmax drops out), with an
    error of order c_sigma."""
    task, ctx = small_contexts
    P = 6.0
    gd = jax.nn.softmax(cf.gd_logits(ctx, P / np.sqrt(task.D)), -1)
    errs = []
    for c_sigma in (1e-2, 1e-3, 1e-4):
        eq1 = jax.nn.softmax(cf.adaptive_logits(ctx, P / c_sigma, c_sigma), -1)
        errs.append(float(jnp.max(jnp.abs(eq1 - gd))))
    assert errs[-1] < 1e-4
    assert errs[1] < 0.2 * errs[0] and errs[2] < 0.2 * errs[1]  # shrinks linearly with c_sigma


def test_vanishing_scale_and_permutation(small_contexts):
    task, ctx = small_contexts
    for logits in (cf.gd_logits(ctx, 0.0), cf.kernel_gd_logits(ctx, 0.0, 0.5), cf.adaptive_logits(ctx, 0.0, 5.0)):
        np.testing.assert_array_equal(logits, 0.0)
    perm = np.random.default_rng(1).permutation(task.n)
    shuffled = ctx._replace(xs=ctx.xs[:, perm], ys=ctx.ys[:, perm])
    for f in (lambda c: cf.gd_logits(c, 2.0), lambda c: cf.kernel_gd_logits(c, 2.0, 0.5),
              lambda c: cf.adaptive_logits(c, 3.0, 7.0), lambda c: cf.adaptive_logits(c, 3.0, 7.0, True)):
        np.testing.assert_allclose(f(shuffled), f(ctx), rtol=1e-12, atol=1e-14)


def test_represented_by_every_kind_and_option():
    want = {("linear", False): "gd", ("linear", True): "gd", ("kernel", False): "kernel_gd",
            ("kernel", True): "kernel_gd", ("softmax", False): "adaptive", ("softmax", True): "adaptive_self_key"}
    for (kind, qk), method in want.items():
        assert cf.represented_by(kind, qk) == method
    assert cf.represented_by("softmax") == "adaptive"  # the paper's model: the query is not among its keys
    assert {cf.represented_by(k, q) for k, q in want} == set(cf.METHODS)
    with pytest.raises(ValueError, match="unknown attention kind 'cubic'"):
        cf.represented_by("cubic")


def test_names_cover_the_methods():
    assert tuple(cf.NAMES) == cf.METHODS
    assert cf.NAMES == {"gd": "GD (eq. 2)", "kernel_gd": "kernel GD (eq. 3)", "adaptive": "eq. 1",
                        "adaptive_self_key": "eq. 1 self-key"}


@pytest.mark.parametrize("c_eta, c_sigma", [(3.0, 7.0), (0.5, 40.0), (6.0, 1100.0)])
def test_adaptive_rate_is_eq1s_rate_even_for_a_narrow_kernel(small_contexts, c_eta, c_sigma):
    """The rate the talk draws, against the float64 reference; at c_sigma 1100 (d = 2's fit) e^{1/sigma^2} alone
    overflows float32, the log form does not."""
    task, ctx = small_contexts
    c = ref.as_np(ctx)
    want = np.array([ref.adaptive_eta(c["xs"][b], c["xq"][b], c_eta, c_sigma, task.C, False)
                     for b in range(ctx.batch)])
    got = np.asarray(cf.adaptive_rate(ctx, c_eta, c_sigma))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=2e-4)


@pytest.mark.parametrize("method, consts", [("gd", {"eta": 4.0}), ("kernel_gd", {"eta": 4.0, "sigma2": 0.3}),
                                            ("adaptive", {"c_eta": 4.0, "c_sigma": 9.0}),
                                            ("adaptive_self_key", {"c_eta": 4.0, "c_sigma": 9.0})])
def test_predict_dispatches_to_each_formula_and_its_weights_give_its_logits(small_contexts, method, consts):
    """One dispatch for every caller: its logits are the method's own formula, and summing the labels with its
    weights gives them back (eq. 1 scales its softmax weights by c_eta)."""
    _, ctx = small_contexts
    lg, w = cf.predict(method, ctx, consts)
    direct = {"gd": lambda: cf.gd_logits(ctx, 4.0), "kernel_gd": lambda: cf.kernel_gd_logits(ctx, 4.0, 0.3),
              "adaptive": lambda: cf.adaptive_logits(ctx, 4.0, 9.0),
              "adaptive_self_key": lambda: cf.adaptive_logits(ctx, 4.0, 9.0, True)}[method]()
    np.testing.assert_allclose(lg, direct, rtol=1e-12)
    scale = consts.get("c_eta", 1.0)
    np.testing.assert_allclose(scale * np.asarray(cf.label_sums(w, ctx)), lg, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown method"):
        cf.predict("nope", ctx, consts)
