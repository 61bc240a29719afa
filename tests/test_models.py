import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine import models
from engine.tasks import TaskConfig, sample_contexts
from tests import reference as ref

TASK = TaskConfig(d=3, C=4, n=8)


@pytest.fixture(scope="module", autouse=True)
def _float64(x64_module):
    """Agreement with the full-attention numpy reference to 1e-10 is a float64 statement."""


@pytest.fixture(scope="module")
def ctx():
    return sample_contexts(jax.random.key(7), TASK, 5)


@pytest.mark.parametrize("kind", models.KINDS)
@pytest.mark.parametrize("query_in_keys", [True, False])
def test_logits_match_full_attention_reference(ctx, kind, query_in_keys):
    params = models.init_params(jax.random.key(1), TASK, scale=0.7)
    got = np.asarray(models.logits(params, ctx, kind, sigma2=0.8, query_in_keys=query_in_keys))
    c = ref.as_np(ctx)
    want = np.stack([
        ref.model_logits(params, c["xs"][b], c["ys"][b], c["xq"][b], TASK.C, kind, 0.8, query_in_keys)
        for b in range(ctx.batch)
    ])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", models.KINDS)
def test_context_order_carries_no_information(ctx, kind):
    params = models.init_params(jax.random.key(2), TASK, scale=0.7)
    perm = np.random.default_rng(0).permutation(TASK.n)
    shuffled = ctx._replace(xs=ctx.xs[:, perm], ys=ctx.ys[:, perm])
    np.testing.assert_allclose(models.logits(params, ctx, kind), models.logits(params, shuffled, kind), rtol=1e-12)


def test_attention_weights_shape_and_normalisation(ctx):
    params = models.init_params(jax.random.key(3), TASK, scale=0.7)
    w = models.attention_weights(params, ctx, "softmax", query_in_keys=True)
    assert w.shape == (ctx.batch, TASK.n + 1)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-12)
    assert np.all(np.asarray(w[:, -1]) > 0)  # the query's own key takes a share
    w_nq = models.attention_weights(params, ctx, "softmax", query_in_keys=False)
    np.testing.assert_array_equal(w_nq[:, -1], 0.0)
    np.testing.assert_allclose(w_nq.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(models.attention_weights(params, ctx, "softmax"), w_nq)  # the default
    # Without the query, the context weights are the others renormalised.
    np.testing.assert_allclose(w_nq[:, :-1], w[:, :-1] / w[:, :-1].sum(-1, keepdims=True), rtol=1e-12)
    for kind in ("linear", "kernel"):  # unnormalised: the query's term is only dropped
        a = models.attention_weights(params, ctx, kind, query_in_keys=True)
        b = models.attention_weights(params, ctx, kind)
        np.testing.assert_array_equal(b[:, :-1], a[:, :-1])
        np.testing.assert_array_equal(b[:, -1], 0.0)


def test_model_fn_passes_its_options(ctx):
    params = models.init_params(jax.random.key(4), TASK, scale=0.7)
    for qk in (True, False):
        np.testing.assert_array_equal(models.model_fn(params, "softmax", query_in_keys=qk)(ctx),
                                      models.logits(params, ctx, "softmax", query_in_keys=qk))
    np.testing.assert_array_equal(models.model_fn(params, "kernel", sigma2=0.4)(ctx),
                                  models.logits(params, ctx, "kernel", sigma2=0.4))


def test_products_and_init(key):
    params = models.init_params(key, TASK)
    assert set(params) == set(models.MATRICES)
    assert all(p.shape == (TASK.D, TASK.D) for p in params.values())
    assert 0.001 < float(jnp.std(params["W_Q"])) < 0.004
    A, B = models.products(params)
    P = {k: np.asarray(v) for k, v in params.items()}
    np.testing.assert_allclose(A, P["W_Q"].T @ P["W_K"], rtol=1e-12)
    np.testing.assert_allclose(B, P["W_V"].T @ P["W_O"].T, rtol=1e-12)


def test_unknown_kind_is_refused(ctx):
    with pytest.raises(ValueError, match="unknown attention kind"):
        models.logits(models.init_params(jax.random.key(0), TASK), ctx, "cubic")


@pytest.mark.parametrize("task", [TaskConfig(d=2, C=2, n=4), TASK])
def test_variance_scaling_draws_std_sqrt_scale_over_fan_in(task):
    """von Oswald et al.'s reading (haiku's VarianceScaling(scale), a normal truncated at two standard
    deviations): every matrix's entries have std sqrt(scale / D), D being each matrix's fan-in here. Over
    4000 draws (>= 64,000 entries a matrix) the sample std's relative error is ~0.25%: 2% cannot pass by
    accident, and misses the literal reading (8-11x off), an uncorrected truncation (12% off) or fan_in = D^2."""
    scale, draws = 0.002, 4000
    keys = jax.random.split(jax.random.key(11), draws)
    params = jax.vmap(lambda k: models.init_params(k, task, scale, "variance_scaling"))(keys)
    want = np.sqrt(np.float64(scale) / np.float64(task.D))  # every matrix is D x D: fan_in = D
    assert all(models.fan_in(v.shape[1:]) == task.D for v in params.values())
    for name in models.MATRICES:
        w = np.asarray(params[name], np.float64).ravel()
        assert w.size >= 64_000
        assert abs(w.std() / want - 1) < 0.02, name
        assert abs(w.mean()) < 5 * want / np.sqrt(w.size), name
        # truncated at two standard deviations of the underlying normal, want / 0.8796: the tails are cut, and
        # the draw reaches close to the cut
        cut = 2 * want / np.sqrt(1 - 4 * np.exp(-2) / np.sqrt(2 * np.pi) / math.erf(np.sqrt(2)))
        assert np.abs(w).max() <= cut * (1 + 1e-6) and np.abs(w).max() > 0.97 * cut, name
    assert not np.allclose(params["W_Q"], params["W_K"])  # one key each


def test_the_normal_reading_is_todays_draw_bit_for_bit(key):
    """The default draws exactly what init_params drew before `init` existed: scale * N(0, 1), one split key
    per matrix in the order of MATRICES (the shipped runs were trained from it)."""
    keys = jax.random.split(key, 4)
    old = {name: 0.7 * jax.random.normal(k, (TASK.D, TASK.D)) for name, k in zip(("W_Q", "W_K", "W_V", "W_O"), keys)}
    for got in (models.init_params(key, TASK, 0.7), models.init_params(key, TASK, 0.7, "normal")):
        assert set(got) == set(old)
        for name in old:
            np.testing.assert_array_equal(np.asarray(got[name]), np.asarray(old[name]))
    other = models.init_params(key, TASK, 0.7, "variance_scaling")
    assert not np.allclose(other["W_Q"], old["W_Q"])


def test_unknown_initialisation_is_refused(key):
    with pytest.raises(ValueError, match=r"init must be one of \('normal', 'variance_scaling'\), got 'glorot'"):
        models.init_params(key, TASK, 0.002, "glorot")
