"""One-layer, single-head self-attention on context tokens [x_i, y_i] and the query [x_q, 0] (docs/science.md, 2).

Only the query token's output is read, so only the query's row of attention is computed: this is
exact, and costs O(n D) per context instead of O(n^2 D) (bench/forward.py measures the difference).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp

from engine import stable
from engine.tasks import Contexts, TaskConfig

Array = jax.Array
Params = dict[str, Array]
Kind = Literal["linear", "kernel", "softmax"]
KINDS: tuple[Kind, ...] = ("linear", "kernel", "softmax")
MATRICES = ("W_Q", "W_K", "W_V", "W_O")
DEFAULT_SIGMA2 = 1.0


def fan_in(shape: tuple[int, ...]) -> int:
    """The inputs each output of a matrix sums over. The layer computes W x (`q @ W.T`, `h @ W_V.T @ W_O.T`),
    so a matrix's fan-in is its column count; every matrix here is D x D, so it is D for all four."""
    return int(shape[-1])


# The standard deviation of N(0, 1) truncated to [-2, 2], sqrt(1 - 4 phi(2) / (2 Phi(2) - 1)) ~ 0.8796: dividing
# by it gives the truncated draw the intended standard deviation, as haiku's VarianceScaling does.
TRUNCATED_STD = math.sqrt(1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(math.sqrt(2)))

Initialiser = Callable[[Array, tuple[int, int], float], Array]


def _normal(key: Array, shape: tuple[int, int], scale: float) -> Array:
    """N(0, scale^2) for every entry, whatever the shape: the project's reading of "rescaled by scale"."""
    return scale * jax.random.normal(key, shape)


def _variance_scaling(key: Array, shape: tuple[int, int], scale: float) -> Array:
    """Standard deviation sqrt(scale / fan_in), from a normal truncated at two standard deviations: what
    haiku's `VarianceScaling(scale)` draws with its defaults (mode "fan_in", distribution "truncated_normal"),
    the initialiser of von Oswald et al.'s code."""
    std = math.sqrt(scale / fan_in(shape))
    return (std / TRUNCATED_STD) * jax.random.truncated_normal(key, -2.0, 2.0, shape)


INITS: dict[str, Initialiser] = {"normal": _normal, "variance_scaling": _variance_scaling}
"""The two readings of the paper's "weights rescaled by 0.002" (`TrainConfig.init` documents the choice)."""


def init_params(key: Array, task: TaskConfig, scale: float = 0.002, init: str = "normal") -> Params:
    """The four D x D matrices at the start of training, drawn by `INITS[init]` at `scale` (one key each)."""
    if init not in INITS:
        raise ValueError(f"init must be one of {tuple(INITS)}, got {init!r}")
    keys = jax.random.split(key, len(MATRICES))
    return {name: INITS[init](k, (task.D, task.D), scale) for name, k in zip(MATRICES, keys)}


def products(params: Params) -> tuple[Array, Array]:
    """A = W_Q^T W_K (scores) and B = W_V^T W_O^T (values to outputs, acting on rows)."""
    A = params["W_Q"].T @ params["W_K"]
    B = params["W_V"].T @ params["W_O"].T
    return A, B


def key_norms(params: Params, d: int) -> Array:
    """(a_Q, a_K): the mean of |W_Q q|^2 and of |W_K x_i|^2 over unit x-parts (trace of the x-block of W^T W over
    d), a_K with the label's own term (the mean diagonal of the y-block). A kernel layer's weights are scaled by
    exp(-(a_Q + a_K) / (2 sigma2)) beyond what A gives them, so its reading as eq. 3 needs them
    (`extract.kernel_constants`); training keeps them beside A and B in a kernel run's snapshots."""
    M_Q = params["W_Q"].T @ params["W_Q"]
    M_K = params["W_K"].T @ params["W_K"]
    return jnp.stack([jnp.trace(M_Q[:d, :d]) / d, jnp.trace(M_K[:d, :d]) / d + jnp.mean(jnp.diag(M_K)[d:])])


def tokens(ctx: Contexts) -> tuple[Array, Array]:
    """Context tokens X_BxNxD = [x_i, onehot(y_i)] and query tokens q_BxD = [x_q, 0]."""
    C = ctx.protos.shape[1]
    X = jnp.concatenate([ctx.xs, jax.nn.one_hot(ctx.ys, C, dtype=ctx.xs.dtype)], axis=-1)
    q = jnp.concatenate([ctx.xq, jnp.zeros(ctx.xq.shape[:-1] + (C,), ctx.xq.dtype)], axis=-1)
    return X, q


def _scores(params: Params, X: Array, q: Array, kind: Kind, sigma2: float) -> tuple[Array, Array]:
    """Unnormalised attention of the query on the context tokens (B, n) and on itself (B,)."""
    if kind == "kernel":
        qq = q @ params["W_Q"].T
        kx = X @ params["W_K"].T
        kq = q @ params["W_K"].T
        s_ctx = -jnp.sum((kx - qq[:, None]) ** 2, -1) / (2 * sigma2)
        s_self = -jnp.sum((kq - qq) ** 2, -1) / (2 * sigma2)
        return s_ctx, s_self
    A, _ = products(params)
    qA = q @ A
    s_ctx = jnp.einsum("bd,bnd->bn", qA, X)
    s_self = jnp.sum(qA * q, -1)
    if kind == "softmax":
        scale = jnp.sqrt(jnp.asarray(X.shape[-1], X.dtype))
        return s_ctx / scale, s_self / scale
    return s_ctx, s_self


def attention_weights(
    params: Params, ctx: Contexts, kind: Kind, *, sigma2: float = DEFAULT_SIGMA2, query_in_keys: bool = False
) -> Array:
    """The query's attention over all n + 1 tokens (context first, query last), (B, n+1).

    Linear attention is unnormalised, kernel attention is the kernel value, softmax sums to one.
    Without the query among the keys its weight is 0.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown attention kind {kind!r}; choose one of {KINDS}")
    X, q = tokens(ctx)
    s_ctx, s_self = _scores(params, X, q, kind, sigma2)
    s_all = jnp.concatenate([s_ctx, s_self[:, None]], axis=-1)
    if kind == "linear":
        w = s_all
    elif kind == "kernel":
        w = jnp.exp(s_all)
    else:
        if not query_in_keys:
            s_all = s_all.at[:, -1].set(-jnp.inf)
        return stable.softmax(s_all)
    return w if query_in_keys else w.at[:, -1].set(0.0)


def logits(
    params: Params, ctx: Contexts, kind: Kind, *, sigma2: float = DEFAULT_SIGMA2, query_in_keys: bool = False
) -> Array:
    """The y-part of the query token's output, (B, C); y_hat = softmax of it."""
    w = attention_weights(params, ctx, kind, sigma2=sigma2, query_in_keys=query_in_keys)
    X, q = tokens(ctx)
    _, B = products(params)
    h = jnp.einsum("bn,bnd->bd", w[:, :-1], X) + w[:, -1:] * q
    C = ctx.protos.shape[1]
    return (h @ B)[:, -C:]


def model_fn(params: Params, kind: Kind, **options) -> Callable[[Contexts], Array]:
    """Contexts -> logits for fixed weights, the form `metrics.alignment` takes."""
    return lambda ctx: logits(params, ctx, kind, **options)
