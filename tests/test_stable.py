"""engine.stable.softmax: the value and gradient of jax.nn.softmax, with a backward pass that stays accurate
when one weight takes (nearly) all the mass (docs/science.md section 5)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine import stable
from tests import reference as ref


def vjp(f, x, g):
    y, back = jax.vjp(f, x)
    return y, back(g)[0]


@pytest.mark.parametrize("axis", [-1, 0])
def test_value_and_gradient_equal_jax_softmax_in_float64(x64, axis):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(4, 7)) * 3)
    g = jnp.asarray(rng.normal(size=(4, 7)))
    p, dx = vjp(lambda v: stable.softmax(v, axis), x, g)
    p_ref, dx_ref = vjp(lambda v: jax.nn.softmax(v, axis=axis), x, g)
    assert p.dtype == dx.dtype == jnp.float64
    np.testing.assert_allclose(p, p_ref, rtol=1e-14)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(p, ref.softmax(np.asarray(x), axis=axis), rtol=1e-14)
    # The full Jacobian too (metrics builds sensitivities from jacrev through it).
    J = jax.jacrev(lambda v: stable.softmax(v, axis))(x)
    J_ref = jax.jacrev(lambda v: jax.nn.softmax(v, axis=axis))(x)
    np.testing.assert_allclose(J, J_ref, rtol=1e-12, atol=1e-15)


def test_float32_agrees_with_float64_where_unsaturated():
    rng = np.random.default_rng(1)
    x, g = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    p, dx = vjp(stable.softmax, jnp.asarray(x, jnp.float32), jnp.asarray(g, jnp.float32))
    assert dx.dtype == jnp.float32
    p64 = ref.softmax(x)
    np.testing.assert_allclose(p, p64, rtol=1e-6)
    np.testing.assert_allclose(dx, p64 * (g - (p64 * g).sum(-1, keepdims=True)), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("gap", [20.0, 60.0, 300.0, 700.0])
def test_saturated_gradient_is_finite_and_exact_in_float64(x64, gap):
    """Two scores `gap` apart: p_1 ~ e^-gap is below float64's resolution of 1 - p_0, so the textbook
    p (g - p.g) loses the heaviest entry's gradient entirely (for the larger gaps); the stable pass keeps it
    to rounding. Reference: the two-entry closed form p_0 p_1 (g_0 - g_1)."""
    x = np.array([gap, 0.0])
    g = np.array([0.3, -1.7])
    p_want, dx_want = ref.softmax_vjp(x, g)
    p, dx = vjp(stable.softmax, jnp.asarray(x), jnp.asarray(g))
    assert np.all(np.isfinite(dx))
    np.testing.assert_allclose(p, p_want, rtol=1e-14)
    np.testing.assert_allclose(dx, dx_want, rtol=1e-12)
    _, naive = vjp(jax.nn.softmax, jnp.asarray(x), jnp.asarray(g))
    if gap >= 60:  # e^-60 < 2^-53: the plain backward pass has lost the heaviest entry's gradient
        assert abs(float(naive[0]) - dx_want[0]) > 0.5 * abs(dx_want[0])


def test_saturated_gradient_in_float32_matches_float64():
    """Attention at d = 2 (scores ~ 20 apart already saturate float32): every entry of the gradient,
    the heaviest included, to float32 precision relative to itself."""
    rng = np.random.default_rng(2)
    x = np.concatenate([[25.0], rng.uniform(-5, 3, size=9)])
    g = rng.normal(size=10)
    with jax.enable_x64(True):
        _, dx64 = vjp(jax.nn.softmax, jnp.asarray(x), jnp.asarray(g))  # exact enough: float64 has 1e-16 of slack
        dx64 = np.asarray(dx64)
    _, dx32 = vjp(stable.softmax, jnp.asarray(x, jnp.float32), jnp.asarray(g, jnp.float32))
    np.testing.assert_allclose(dx32, dx64, rtol=1e-4)
    _, naive = vjp(jax.nn.softmax, jnp.asarray(x, jnp.float32), jnp.asarray(g, jnp.float32))
    assert abs(float(naive[0]) - dx64[0]) > 0.5 * abs(dx64[0])  # the plain pass in float32 gets it wrong


def test_minus_infinity_gets_zero_weight_and_a_finite_gradient():
    """Masked entries (the query outside its keys) at -inf: weight 0, gradient 0, nothing NaN."""
    x = jnp.asarray([[1.0, -jnp.inf, 0.5], [-jnp.inf, 2.0, 2.0]], jnp.float32)
    g = jnp.asarray([[1.0, 5.0, -1.0], [3.0, 0.5, -0.5]], jnp.float32)
    p, dx = vjp(stable.softmax, x, g)
    np.testing.assert_array_equal(np.asarray(p)[[0, 1], [1, 0]], 0.0)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-6)
    assert np.all(np.isfinite(dx))
    np.testing.assert_array_equal(np.asarray(dx)[[0, 1], [1, 0]], 0.0)
    p_ref, dx_ref = vjp(jax.nn.softmax, x, g)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p, p_ref, rtol=1e-6)
