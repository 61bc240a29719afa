"""Per-context metrics and the alignment of a model with a closed form (docs/science.md section 5).

Sensitivities s_j = d y_hat_j / d x_q are built from the Jacobian of the logits, J = d logits / d x_q,
as s_j = y_j g_j with g_j = sum_k y_k (J_j - J_k). This is exact, and stays finite and accurate when
the softmax saturates (d = 2, large c_sigma): no difference of nearly equal numbers is formed, and
the cosine between two sensitivities is that of their g's, which do not underflow with y_j.
Saturated attention still leaves float32 with weights that underflow (e^-230), so alignment is
evaluated in float64 by default whatever the dtype of the weights and contexts.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from engine.tasks import Contexts

Array = jax.Array
LogitsFn = Callable[[Contexts], Array]


def per_context(logits_BxC: Array, yq_B: Array) -> dict[str, Array]:
    """Cross-entropy, probability of the correct class, entropy of y_hat and accuracy, each (B,)."""
    logp = jax.nn.log_softmax(logits_BxC, axis=-1)
    loss = -jnp.take_along_axis(logp, yq_B[:, None], -1)[:, 0]
    p = jnp.exp(logp)
    entropy = -jnp.sum(jnp.where(p > 0, p * logp, 0.0), -1)
    correct = (jnp.argmax(logits_BxC, -1) == yq_B).astype(logits_BxC.dtype)
    return {"loss": loss, "p_correct": jnp.exp(-loss), "entropy": entropy, "correct": correct}


def logit_jacobian(fn: LogitsFn, ctx: Contexts) -> Array:
    """d logits_j / d x_q per context, (B, C, d). Contexts are independent, so summing over the batch
    before differentiating gives every context's own Jacobian in C backward passes."""
    jac = jax.jacrev(lambda xq: fn(ctx._replace(xq=xq)).sum(0))(ctx.xq)  # (C, B, d)
    return jnp.moveaxis(jac, 0, 1)


def sensitivities(fn: LogitsFn, ctx: Contexts) -> tuple[Array, Array]:
    """(s, g): s_BxCxd = d y_hat / d x_q and g = d log y_hat / d x_q (same direction as s)."""
    J = logit_jacobian(fn, ctx)
    y = jax.nn.softmax(fn(ctx), axis=-1)
    g = jnp.einsum("bk,bjkd->bjd", y, J[:, :, None, :] - J[:, None, :, :])
    return y[..., None] * g, g


def _cos(a: Array, b: Array) -> Array:
    """Cosine along the last axis; 0 where a vector vanishes (no direction to compare)."""
    na = jnp.linalg.norm(a, axis=-1)
    nb = jnp.linalg.norm(b, axis=-1)
    ok = (na > 0) & (nb > 0)
    return jnp.where(ok, jnp.sum(a * b, -1) / jnp.where(ok, na * nb, 1.0), 0.0)


def _unit_rows(g: Array) -> Array:
    """Rescale each context's g by its largest entry so that norms cannot overflow or underflow."""
    m = jnp.max(jnp.abs(g), axis=-1, keepdims=True)
    return g / jnp.where(m > 0, m, 1.0)


def to_float64(tree):
    """Cast the floating arrays of a pytree to float64 (call inside `jax.enable_x64`)."""
    return jax.tree.map(lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def alignment(model_fn: LogitsFn, ref_fn: LogitsFn, ctx: Contexts, *, precise: bool = True) -> dict[str, Array]:
    """Preds diff, cos sim and model diff of `model_fn` against `ref_fn` (docs/science.md section 5).

    Returns the means over contexts under the plain names and the per-context arrays with a
    `_per_context` suffix. With `precise` (the default) it runs in float64: the functions' own
    float32 weights are promoted as they meet the float64 contexts.
    """
    if precise and not jax.config.jax_enable_x64:
        with jax.enable_x64(True):
            return _alignment(model_fn, ref_fn, to_float64(ctx))
    return _alignment(model_fn, ref_fn, ctx)


def _alignment(model_fn: LogitsFn, ref_fn: LogitsFn, ctx: Contexts) -> dict[str, Array]:
    y_m = jax.nn.softmax(model_fn(ctx), -1)
    y_r = jax.nn.softmax(ref_fn(ctx), -1)
    s_m, g_m = sensitivities(model_fn, ctx)
    s_r, g_r = sensitivities(ref_fn, ctx)
    preds = jnp.linalg.norm(y_m - y_r, axis=-1)
    cos = jnp.mean(_cos(_unit_rows(g_m), _unit_rows(g_r)), -1)
    model = jnp.mean(jnp.linalg.norm(s_m - s_r, axis=-1), -1)
    out = {"preds_diff": preds, "cos_sim": cos, "model_diff": model}
    return {**{k: v.mean() for k, v in out.items()}, **{f"{k}_per_context": v for k, v in out.items()}}
