"""A softmax whose derivative stays accurate when one weight takes (nearly) all the mass.

The usual backward pass p_i (g_i - sum_k p_k g_k) subtracts two nearly equal numbers when p is
almost one-hot (saturated attention at d = 2), and loses every digit of the sensitivities that
docs/science.md section 5 compares. Measuring g from its value at the heaviest entry makes that term exactly zero
and leaves only small, accurately computed ones. Same cost, same value, same gradient in exact
arithmetic.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

Array = jax.Array


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def softmax(x: Array, axis: int = -1) -> Array:
    """softmax along `axis`; entries at -inf get weight 0."""
    return jax.nn.softmax(x, axis=axis)


def _fwd(x, axis):
    p = jax.nn.softmax(x, axis=axis)
    return p, p


def _bwd(axis, p, g):
    top = jnp.argmax(p, axis=axis, keepdims=True)
    g0 = g - jnp.take_along_axis(g, top, axis=axis)
    return (p * (g0 - jnp.sum(p * g0, axis=axis, keepdims=True)),)


softmax.defvjp(_fwd, _bwd)
