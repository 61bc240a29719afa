"""Fitting the closed-form learners to data: grid search plus refinement (docs/science.md section 6).

Every closed form is a scale times a label sum: logits = scale * h, where h (N, C) depends only on
the kernel width (nothing for GD, sigma^2 for kernel GD, c_sigma for eq. 1) and the scale is eta or
c_eta. So the grids are separable: h is computed once per width, and the loss of scale * h for all
scales costs only N C exponentials per scale. One jitted program evaluates the whole grid, mapping
over the width axis in chunks to bound memory.

Refinement starts from the grid's best point and runs damped Newton (Levenberg-Marquardt) steps on
the log of the absolute parameters (signs stay those of the grid point): a handful of steps reach
the minimum where hundreds of first-order steps would be needed, and each accepted step lowers the
loss, so the result is never worse than the grid.

Fits run in the dtype of the contexts (float32 unless x64 is enabled).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from engine import closed_form as cf
from engine.tasks import Contexts

Array = jax.Array
LogitsFn = Callable[[Contexts], Array]

METHODS = cf.METHODS
# Parameter names per method, in the order of the loss grid's axes: the kernel width (which sets
# h) first, the scale second.
PARAM_NAMES: dict[str, tuple[str, ...]] = {
    "gd": ("eta",),
    "kernel_gd": ("sigma2", "eta"),
    "adaptive": ("c_sigma", "c_eta"),
    "adaptive_self_key": ("c_sigma", "c_eta"),
}
GRID_POINTS = 100
# docs/science.md section 6, as log10 ranges.
_GD_ETA = (0.0, 2.5)
_KERNEL_ETA = (0.0, 3.0)
_KERNEL_SIGMA2 = (-3.0, 2.0)
_ADAPTIVE_C_SIGMA = {2: (0.0, 3.5), 3: (-1.0, 2.0), 5: (-1.0, 2.0), 10: (-3.0, 1.0)}
_ADAPTIVE_C_ETA = {2: (-1.0, 2.0), 3: (-1.0, 2.0), 5: (-1.0, 2.0), 10: (1.0, 4.0)}
# Widths evaluated together in the grid: bounds memory at chunk * N * n weights.
GRID_CHUNK = 2


@dataclasses.dataclass
class FitResult:
    """A fitted closed form: the grid's best point, the whole landscape, and the refined point."""

    best: dict[str, float]  # grid argmin, parameter name -> value
    loss: float  # mean cross-entropy at `best`
    axes: dict[str, np.ndarray]  # parameter name -> 1-D grid, in the order of the axes of `losses`
    losses: np.ndarray  # mean cross-entropy on the grid
    refined: dict[str, float]  # after Newton refinement from `best` (equal to it if that did not help)
    refined_loss: float  # <= loss
    method: str  # one of METHODS, or a baseline's name (engine.baselines)

    @property
    def on_edge(self) -> tuple[str, ...]:
        """Parameters whose grid optimum is the first or last grid value, or whose refined value left the
        grid: the true optimum may lie outside the grid, so the constant is a bound, not a fit."""
        flat = np.where(np.isnan(self.losses), np.inf, self.losses)
        idx = np.unravel_index(int(np.argmin(flat)), flat.shape)
        out = []
        for (name, axis), i in zip(self.axes.items(), idx):
            lo, hi = min(axis[0], axis[-1]), max(axis[0], axis[-1])
            if i in (0, len(axis) - 1) or not lo <= self.refined[name] <= hi:
                out.append(name)
        return tuple(out)


def best_at(result: FitResult, name: str, value: float) -> tuple[dict[str, float], float]:
    """The grid's best point with `name` held at its grid value nearest `value` (on the log scale), and its loss:
    a closed form at a given constant with the others at their best there (e.g. kernel GD at eq. 1's kernel
    width, so the two rates compare on one kernel)."""
    names = list(result.axes)
    axis = np.asarray(result.axes[name], float)
    i = int(np.argmin(np.abs(np.log(axis) - np.log(value))))
    section = np.take(np.where(np.isnan(result.losses), np.inf, result.losses), i, axis=names.index(name))
    rest = [k for k in names if k != name]
    idx = np.unravel_index(int(np.argmin(section)), section.shape) if rest else ()
    point = {name: float(axis[i]), **{k: float(result.axes[k][j]) for k, j in zip(rest, idx)}}
    return point, float(section[idx])


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")


def _nearest_d(d: int) -> int:
    """The paper's eq. 1 ranges are given for d in {2, 3, 5, 10}; other d use the nearest one."""
    return min(_ADAPTIVE_C_SIGMA, key=lambda k: (abs(k - d), k))


def _logspace(lo_hi: tuple[float, float]) -> np.ndarray:
    return np.logspace(lo_hi[0], lo_hi[1], GRID_POINTS)


def default_grid(method: str, d: int) -> dict[str, np.ndarray]:
    """docs/science.md section 6 grids (100 log-spaced values per parameter), in the order of the loss grid's axes.

    Only the eq. (1) ranges depend on d; a d outside {2, 3, 5, 10} takes the nearest listed d's ranges.
    """
    _check_method(method)
    if method == "gd":
        return {"eta": _logspace(_GD_ETA)}
    if method == "kernel_gd":
        return {"sigma2": _logspace(_KERNEL_SIGMA2), "eta": _logspace(_KERNEL_ETA)}
    k = _nearest_d(d)
    return {"c_sigma": _logspace(_ADAPTIVE_C_SIGMA[k]), "c_eta": _logspace(_ADAPTIVE_C_ETA[k])}


def closed_form_fn(method: str, best: dict[str, float]) -> LogitsFn:
    """Contexts -> logits of `method` at the constants in `best` (extra keys are ignored; values may
    be traced, so the function can be jitted with the constants as arguments)."""
    _check_method(method)
    p = dict(best)
    return lambda ctx: cf.predict(method, ctx, p)[0]


# ---------------------------------------------------------------------------------------------
# Separable evaluation: h(width) once, then every scale.


def group_by_class(ctx: Contexts) -> tuple[Contexts, bool]:
    """Reorder each context's points by label when every class has exactly n/C points (always so for
    sampled contexts), so that label sums become a reshape and a sum: several times faster than a
    one-hot contraction. Order carries no information, so no closed form changes. Returns the
    contexts and whether they are grouped."""
    ys = np.asarray(ctx.ys)
    N, n = ys.shape
    C = ctx.protos.shape[1]
    if n % C:
        return ctx, False
    canonical = np.repeat(np.arange(C), n // C)
    if np.array_equal(ys, np.broadcast_to(canonical, ys.shape)):
        return ctx, True
    if not np.array_equal(np.sort(ys, axis=1), np.broadcast_to(canonical, ys.shape)):
        return ctx, False
    order = jnp.argsort(jnp.asarray(ys), axis=1, stable=True)
    xs = jnp.take_along_axis(ctx.xs, order[..., None], axis=1)
    return ctx._replace(xs=xs, ys=jnp.broadcast_to(jnp.asarray(canonical, ctx.ys.dtype), ys.shape)), True


def _label_sums(w_BxN: Array, ctx: Contexts, grouped: bool) -> Array:
    """sum_i w_i y_i, (B, C); for grouped contexts the same sum as `closed_form.label_sums`."""
    if not grouped:
        return cf.label_sums(w_BxN, ctx)
    C = ctx.protos.shape[1]
    return w_BxN.reshape(w_BxN.shape[0], C, -1).sum(-1)


def _unit_logits(ctx: Contexts, method: str, width: Array, grouped: bool) -> Array:
    """h (N, C): the logits at scale 1, so that logits = scale * h."""
    n = ctx.xs.shape[1]
    if method == "gd":
        return cf.gd_logits(ctx, 1.0)
    if method == "kernel_gd":
        return _label_sums(cf.rbf(ctx, width), ctx, grouped) / n
    return _label_sums(cf.adaptive_weights(ctx, width, method == "adaptive_self_key"), ctx, grouped)


def _scale_losses(h_NxC: Array, yq_N: Array, scales_E: Array) -> Array:
    """Mean cross-entropy of logits s * h for every scale s >= 0, (E,).

    With dh = h - h[y_q] (zero at the true class), CE = log sum_c exp(s dh_c), whose largest
    exponent s max(dh) is known before any exponential: each scale costs one exp per entry and one
    log per context. Classes lie along the first axis so that the sum over them is elementwise
    across contexts (vectorises, unlike a reduction over 5 adjacent entries). Negative scales are
    the same sum for -h (see `_grid_losses`).
    """
    hy_N = jnp.take_along_axis(h_NxC, yq_N[:, None], 1)[:, 0]
    dh_CxN = (h_NxC - hy_N[:, None]).T
    hi_N = jnp.max(dh_CxN, 0)  # >= 0
    a_CxN = dh_CxN - hi_N  # <= 0
    hi_mean = jnp.mean(hi_N)
    return jax.vmap(lambda s: s * hi_mean + jnp.mean(jnp.log(jnp.sum(jnp.exp(s * a_CxN), 0))))(scales_E)


@functools.partial(jax.jit, static_argnames=("method", "grouped", "chunk"))
def _grid_losses(
    ctx: Contexts, widths_W: Array, neg_E1: Array, pos_E2: Array, method: str, grouped: bool, chunk: int
) -> Array:
    """Losses (W, E1 + E2) at scales -neg (neg > 0) then pos (pos >= 0): s h = |s| (-h) for s < 0."""

    def row(width):
        h = _unit_logits(ctx, method, width, grouped)
        parts = []
        if neg_E1.shape[0]:
            parts.append(_scale_losses(-h, ctx.yq, neg_E1))
        if pos_E2.shape[0]:
            parts.append(_scale_losses(h, ctx.yq, pos_E2))
        return jnp.concatenate(parts)

    return jax.lax.map(row, widths_W, batch_size=chunk)


def grid_losses(ctx: Contexts, method: str, axes: dict[str, np.ndarray], chunk: int = GRID_CHUNK) -> np.ndarray:
    """Mean cross-entropy of `method` at every point of the grid `axes` (names in PARAM_NAMES order),
    shape (len(axis) for axis in axes)."""
    _check_method(method)
    names = PARAM_NAMES[method]
    if tuple(axes) != names:
        raise ValueError(f"{method} takes axes {names}, got {tuple(axes)}")
    ctx, grouped = group_by_class(ctx)
    dtype = ctx.xs.dtype
    scales = np.asarray(axes[names[-1]], np.float64)
    order = np.argsort(scales >= 0, kind="stable")  # negative scales first
    k = int(np.sum(scales < 0))
    neg = jnp.asarray(-scales[order[:k]], dtype)
    pos = jnp.asarray(scales[order[k:]], dtype)
    widths = jnp.asarray(axes[names[0]], dtype) if len(names) == 2 else jnp.zeros(1, dtype)
    chunk = max(1, min(chunk, widths.shape[0]))
    losses = np.empty((widths.shape[0], scales.shape[0]))
    losses[:, order] = np.asarray(_grid_losses(ctx, widths, neg, pos, method, grouped, chunk))
    return losses if len(names) == 2 else losses[0]


# ---------------------------------------------------------------------------------------------
# Refinement.


def _params_of(u: Array, signs: Array, method: str) -> dict[str, Array]:
    return dict(zip(PARAM_NAMES[method], signs * jnp.exp(u)))


def _mean_loss(ctx: Contexts, method: str, p: dict[str, Array], grouped: bool) -> Array:
    names = PARAM_NAMES[method]
    width = p[names[0]] if len(names) == 2 else None
    logits = p[names[-1]] * _unit_logits(ctx, method, width, grouped)
    logp = jax.nn.log_softmax(logits, -1)
    return -jnp.mean(jnp.take_along_axis(logp, ctx.yq[:, None], 1))


@functools.partial(jax.jit, static_argnames=("method", "grouped", "max_iter"))
def _refine(
    ctx: Contexts, u0: Array, signs: Array, method: str, grouped: bool, max_iter: int = 60
) -> tuple[Array, Array, Array]:
    """Levenberg-Marquardt on u = log|params|: solve (H + lam I) du = -g, accept a step only if it
    lowers the loss (then lam shrinks), else grow lam (towards small gradient steps).
    Returns (u, loss at u, loss at u0)."""

    def f(u):
        return _mean_loss(ctx, method, _params_of(u, signs, method), grouped)

    def g_aux(u):
        val, g = jax.value_and_grad(f)(u)
        return g, (val, g)

    def fgh(u):
        H, (val, g) = jax.jacrev(g_aux, has_aux=True)(u)  # reverse over reverse: the stable softmax has no jvp
        return val, g, H

    eye = jnp.eye(u0.shape[0], dtype=u0.dtype)

    def cond(state):
        it, _, _, _, _, lam, done = state
        return (it < max_iter) & ~done

    def body(state):
        it, u, val, g, H, lam, _ = state
        du = jnp.linalg.solve(H + lam * eye, -g)
        du = du * jnp.minimum(1.0, 1.0 / (jnp.linalg.norm(du) + 1e-30))  # at most one e-fold per step
        u_new = u + du
        val_new = f(u_new)
        ok = jnp.isfinite(val_new) & (val_new < val)
        u, val, g, H = jax.lax.cond(ok, lambda: (u_new, *fgh(u_new)), lambda: (u, val, g, H))
        lam = jnp.where(ok, lam * 0.3, lam * 10.0)
        done = (lam > 1e10) | (ok & (jnp.max(jnp.abs(du)) < 1e-7))
        return it + 1, u, val, g, H, lam, done

    val0, g0, H0 = fgh(u0)
    lam0 = jnp.asarray(1e-3, u0.dtype)
    state = (0, u0, val0, g0, H0, lam0, ~jnp.isfinite(val0))
    _, u, val, _, _, _, _ = jax.lax.while_loop(cond, body, state)
    return u, val, val0


def refine(ctx: Contexts, method: str, start: dict[str, float], grid_loss: float | None = None) -> tuple[dict, float]:
    """Refine `start` by damped Newton on the log-parameters. Returns (params, loss); returns `start`
    (and `grid_loss`, or its loss) when no step lowers the loss below both its direct evaluation and
    `grid_loss`, so refinement never reports a worse point."""
    _check_method(method)
    names = PARAM_NAMES[method]
    ctx, grouped = group_by_class(ctx)
    dtype = ctx.xs.dtype
    x0 = np.array([start[k] for k in names], np.float64)
    if not np.all(np.isfinite(x0)) or np.any(x0 == 0):
        loss0 = grid_loss if grid_loss is not None else float(mean_loss(ctx, method, start))
        return dict(start), loss0
    u0 = jnp.asarray(np.log(np.abs(x0)), dtype)
    signs = jnp.asarray(np.sign(x0), dtype)
    u, val, val0 = _refine(ctx, u0, signs, method, grouped)
    val, val0 = float(val), float(val0)
    bar = min(val0, grid_loss) if grid_loss is not None else val0
    if np.isfinite(val) and val < bar:
        x = np.sign(x0) * np.exp(np.asarray(u, np.float64))
        return {k: float(v) for k, v in zip(names, x)}, val
    return dict(start), (grid_loss if grid_loss is not None else val0)


def mean_loss(ctx: Contexts, method: str, params: dict[str, float]) -> float:
    """Mean cross-entropy of `method` at `params` over `ctx`."""
    _check_method(method)
    logp = jax.nn.log_softmax(closed_form_fn(method, params)(ctx), -1)
    return float(-jnp.mean(jnp.take_along_axis(logp, ctx.yq[:, None], 1)))


# ---------------------------------------------------------------------------------------------
# Eq. 1 in its valley's coordinates: c_sigma and the rate eta = c_sigma c_eta / sqrt(D) (engine.valley).


def _rate_logits(ctx: Contexts, method: str, width: Array, grouped: bool) -> Array:
    """h with logits = eta * h: GD's own; eq. 1's unit logits times sqrt(D) / c_sigma, so that eta = c_sigma c_eta /
    sqrt(D) stays finite down the valley, where c_eta alone runs off to infinity."""
    h = _unit_logits(ctx, method, width, grouped)
    if method == "gd":
        return h
    D = ctx.xs.shape[-1] + ctx.protos.shape[1]
    return h * (jnp.sqrt(jnp.asarray(D, h.dtype)) / width)


@functools.partial(jax.jit, static_argnames=("method", "grouped"))
def _rate_grid(ctx: Contexts, widths_W: Array, rates_E: Array, method: str, grouped: bool) -> Array:
    return jax.lax.map(lambda w: _scale_losses(_rate_logits(ctx, method, w, grouped), ctx.yq, rates_E), widths_W)


def _check_rate_method(method: str) -> None:
    if method not in ("gd", "adaptive", "adaptive_self_key"):
        raise ValueError(f"rates in the valley's coordinates are GD's and eq. 1's, not {method!r}")


def rate_grid_losses(ctx: Contexts, method: str, c_sigmas: np.ndarray, etas: np.ndarray) -> np.ndarray:
    """Mean cross-entropy (W, E) of eq. 1 at c_sigmas[i] and c_eta = etas[j] sqrt(D) / c_sigmas[i] (positive
    constants): a grid along the valley rather than across it. For GD the width is ignored (rows repeat)."""
    _check_rate_method(method)
    ctx, grouped = group_by_class(ctx)
    dtype = ctx.xs.dtype
    return np.asarray(_rate_grid(ctx, jnp.asarray(c_sigmas, dtype), jnp.asarray(etas, dtype), method, grouped))


@functools.partial(jax.jit, static_argnames=("method", "grouped", "iters"))
def _rate_floor(ctx: Contexts, widths_W: Array, start_W: Array, method: str, grouped: bool,
                iters: int) -> tuple[Array, Array]:
    """Newton on the rate with step halving: logits are linear in the rate, so the cross-entropy is convex in it
    and the floor of each width's row is one minimum."""

    def one(args):
        width, s0 = args
        h = _rate_logits(ctx, method, width, grouped)
        dh = h - jnp.take_along_axis(h, ctx.yq[:, None], 1)  # (N, C), zero at the true class

        def stats(s):
            z = s * dh
            lse = jax.nn.logsumexp(z, -1)
            p = jnp.exp(z - lse[:, None])
            m1 = jnp.sum(p * dh, -1)
            return jnp.mean(lse), jnp.mean(m1), jnp.mean(jnp.sum(p * dh * dh, -1) - m1 * m1)

        def body(_, state):
            s, L, g, H, t = state
            s_try = jnp.clip(s - t * g / jnp.maximum(H, 1e-300), s / 4, s * 4)  # stays positive
            L2, g2, H2 = stats(s_try)
            ok = L2 <= L
            return (jnp.where(ok, s_try, s), jnp.where(ok, L2, L), jnp.where(ok, g2, g), jnp.where(ok, H2, H),
                    jnp.where(ok, 1.0, t / 2).astype(s.dtype))

        L0, g0, H0 = stats(s0)
        s, L, _, _, _ = jax.lax.fori_loop(0, iters, body, (s0, L0, g0, H0, jnp.ones((), s0.dtype)))
        return s, L

    return jax.lax.map(one, (widths_W, start_W))


def rate_floor(ctx: Contexts, method: str, c_sigmas: np.ndarray, start: np.ndarray,
               iters: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """The valley's floor: for each c_sigma the loss-minimising rate eta (from `start`, e.g. the row's grid best) and
    its loss, both (W,). Exact minima, not grid values: along the valley the loss changes by less than a grid step
    across it does."""
    _check_rate_method(method)
    ctx, grouped = group_by_class(ctx)
    dtype = ctx.xs.dtype
    s, L = _rate_floor(ctx, jnp.asarray(c_sigmas, dtype), jnp.asarray(start, dtype), method, grouped, iters)
    return np.asarray(s, np.float64), np.asarray(L, np.float64)


# ---------------------------------------------------------------------------------------------
# Public fits.


def grid_best(axes: dict[str, np.ndarray], losses: np.ndarray) -> tuple[dict[str, float], float]:
    """The grid's lowest point (a NaN loss counts as +inf) and its loss: the one grid search, shared by the closed
    forms and the baselines (`engine.baselines`)."""
    flat = np.where(np.isnan(losses), np.inf, losses)
    idx = np.unravel_index(int(np.argmin(flat)), losses.shape)
    return {k: float(axes[k][i]) for k, i in zip(axes, idx)}, float(losses[idx])


def grid_fit(axes: dict[str, np.ndarray], losses: np.ndarray, method: str) -> FitResult:
    """A fit that is its grid's best point, unrefined: for constants with no smooth refinement (an integer k) or
    fine enough grids."""
    axes = {k: np.asarray(v, np.float64) for k, v in axes.items()}
    best, loss = grid_best(axes, losses)
    return FitResult(best, loss, axes, np.asarray(losses), dict(best), loss, method)


def fit(ctx: Contexts, method: str, axes: dict[str, np.ndarray]) -> FitResult:
    """Grid search over `axes` (PARAM_NAMES order), then refinement from the best grid point."""
    axes = {k: np.asarray(v, np.float64) for k, v in axes.items()}
    ctx, _ = group_by_class(ctx)  # once, for both the grid and the refinement
    losses = grid_losses(ctx, method, axes)
    best, loss = grid_best(axes, losses)
    refined, refined_loss = refine(ctx, method, best, loss)
    return FitResult(best, loss, axes, losses, refined, float(refined_loss), method)


def fit_method(ctx: Contexts, method: str) -> FitResult:
    """`method` fitted on its default grid for the contexts' d."""
    return fit(ctx, method, default_grid(method, ctx.task.d))


def fit_gd(ctx: Contexts, etas: np.ndarray | None = None) -> FitResult:
    """Eq. (2): eta over `etas` (default: 100 log-spaced values in [1, 10^2.5])."""
    grid = default_grid("gd", ctx.task.d)
    if etas is not None:
        grid["eta"] = etas
    return fit(ctx, "gd", grid)


def fit_kernel_gd(ctx: Contexts, etas: np.ndarray | None = None, sigma2s: np.ndarray | None = None) -> FitResult:
    """Eq. (3): losses[i, j] at (sigma2s[i], etas[j]) (defaults: docs/science.md section 6)."""
    grid = default_grid("kernel_gd", ctx.task.d)
    if sigma2s is not None:
        grid["sigma2"] = sigma2s
    if etas is not None:
        grid["eta"] = etas
    return fit(ctx, "kernel_gd", grid)


def fit_adaptive(
    ctx: Contexts,
    c_sigmas: np.ndarray | None = None,
    c_etas: np.ndarray | None = None,
    self_key: bool = False,
    d: int | None = None,
) -> FitResult:
    """Eq. (1), or its self-key variant: losses[i, j] at (c_sigmas[i], c_etas[j]). Default grids are
    docs/science.md section 6's for `d` (the contexts' d when None)."""
    method = "adaptive_self_key" if self_key else "adaptive"
    grid = default_grid(method, ctx.task.d if d is None else d)
    if c_sigmas is not None:
        grid["c_sigma"] = c_sigmas
    if c_etas is not None:
        grid["c_eta"] = c_etas
    return fit(ctx, method, grid)
