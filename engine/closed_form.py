"""Closed-form one-step learners from zero weights (docs/science.md section 3): what the models are compared with.

All return logits (B, C); y_hat = softmax(logits).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from engine import stable
from engine.tasks import Contexts

Array = jax.Array

METHODS = ("gd", "kernel_gd", "adaptive", "adaptive_self_key")
# One name per closed form, everywhere the app, the README and the tables show one.
NAMES = {
    "gd": "GD (eq. 2)",
    "kernel_gd": "kernel GD (eq. 3)",
    "adaptive": "eq. 1",
    "adaptive_self_key": "eq. 1 self-key",
}


def represented_by(kind: str, query_in_keys: bool = False) -> str:
    """The closed form an attention layer of `kind` represents exactly (docs/science.md section 4): its
    yardstick. A softmax layer whose keys include the query represents eq. 1's self-key variant."""
    if kind == "linear":
        return "gd"
    if kind == "kernel":
        return "kernel_gd"
    if kind == "softmax":
        return "adaptive_self_key" if query_in_keys else "adaptive"
    raise ValueError(f"unknown attention kind {kind!r}")


def _onehot(ctx: Contexts) -> Array:
    return jax.nn.one_hot(ctx.ys, ctx.protos.shape[1], dtype=ctx.xs.dtype)


def _dots(ctx: Contexts) -> Array:
    """x_i . x_q, (B, n)."""
    return jnp.einsum("bnd,bd->bn", ctx.xs, ctx.xq)


def label_sums(weights_BxN: Array, ctx: Contexts) -> Array:
    """sum_i w_i y_i, (B, C): every closed form is a scale times this."""
    return jnp.einsum("bn,bnc->bc", weights_BxN, _onehot(ctx))


def gd_logits(ctx: Contexts, eta: float) -> Array:
    """Eq. (2): one GD step on linear softmax regression, (eta/n) sum_i y_i (x_i . x_q)."""
    return eta / ctx.xs.shape[1] * label_sums(_dots(ctx), ctx)


def rbf(ctx: Contexts, sigma2: float) -> Array:
    """k(x_i, x_q) = exp(-|x_i - x_q|^2 / (2 sigma^2)), (B, n)."""
    sq = jnp.sum((ctx.xs - ctx.xq[:, None]) ** 2, -1)
    return jnp.exp(-sq / (2 * sigma2))


def kernel_gd_logits(ctx: Contexts, eta: float, sigma2: float) -> Array:
    """Eq. (3): one functional GD step in the RBF kernel's RKHS, (eta/n) sum_i y_i k(x_i, x_q)."""
    return eta / ctx.xs.shape[1] * label_sums(rbf(ctx, sigma2), ctx)


def adaptive_weights(ctx: Contexts, c_sigma: float, self_key: bool = False) -> Array:
    """softmax_i(c_sigma (x_i . x_q) / sqrt(D)) over the context, (B, n).

    With `self_key` the query's own score c_sigma |x_q|^2 / sqrt(D) joins the denominator, as it
    does in a softmax layer whose keys include the query token (its value adds no label).
    """
    D = ctx.xs.shape[-1] + ctx.protos.shape[1]
    scale = c_sigma / jnp.sqrt(jnp.asarray(D, ctx.xs.dtype))
    s_ctx = scale * _dots(ctx)
    if not self_key:
        return stable.softmax(s_ctx)
    s_self = scale * jnp.sum(ctx.xq * ctx.xq, -1, keepdims=True)
    return stable.softmax(jnp.concatenate([s_ctx, s_self], -1))[:, :-1]


def adaptive_logits(ctx: Contexts, c_eta: float, c_sigma: float, self_key: bool = False) -> Array:
    """Eq. (1): context-adaptive kernel GD, c_eta sum_i y_i softmax_i(c_sigma (x_i . x_q) / sqrt(D))."""
    return c_eta * label_sums(adaptive_weights(ctx, c_sigma, self_key), ctx)


def adaptive_rate(ctx: Contexts, c_eta: float, c_sigma: float) -> Array:
    """Eq. (1) read as kernel GD (eq. 3) with sigma^2 = sqrt(D) / c_sigma: its context-adaptive learning rate
    eta(X) = c_eta e^{1/sigma^2} n / sum_i e^{x_i . x_q / sigma^2}, (B,), in logs so that a narrow kernel (large
    c_sigma) does not overflow. Small where many context points sit near the query, large where few do."""
    D = ctx.xs.shape[-1] + ctx.protos.shape[1]
    inv_s2 = c_sigma / jnp.sqrt(jnp.asarray(D, ctx.xs.dtype))
    n = ctx.xs.shape[1]
    return jnp.exp(jnp.log(c_eta * n) + inv_s2 - jax.nn.logsumexp(inv_s2 * _dots(ctx), -1))


def predict(method: str, ctx: Contexts, consts) -> tuple[Array, Array]:
    """Any closed form at its constants (`consts`: eta; eta and sigma2; c_sigma and c_eta): (logits (B, C), the
    weight each context point's label gets (B, n)). The one dispatch from a method's name to its formula."""
    if method == "gd":
        return gd_logits(ctx, consts["eta"]), consts["eta"] / ctx.xs.shape[1] * _dots(ctx)
    if method == "kernel_gd":
        w = consts["eta"] / ctx.xs.shape[1] * rbf(ctx, consts["sigma2"])
        return kernel_gd_logits(ctx, consts["eta"], consts["sigma2"]), w
    if method in ("adaptive", "adaptive_self_key"):
        self_key = method == "adaptive_self_key"
        w = adaptive_weights(ctx, consts["c_sigma"], self_key)
        return consts["c_eta"] * label_sums(w, ctx), w
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
