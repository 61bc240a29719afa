"""Classic learners on the same contexts as the attention layers: yardsticks that place the one-step learners
among the ones a statistician would reach for (issue 23, part 2).

- **oracle** (nearest prototype): predicts the class of the prototype nearest the query. Labels *are* the nearest
  prototype, so it is always right: accuracy 1 and cross-entropy 0 (its probability is 1 on the right class). No
  learner that sees only the context can reach it; it is the floor, not a competitor. (The Bayes posterior given
  the context, the best a context-only learner can do, integrates over C (d - 1) prototype coordinates with a
  likelihood made of Voronoi cell areas: no closed form, so it is not offered.)
- **k-NN vote**: the k context points nearest the query vote; probabilities are the smoothed vote shares
  (v_c + alpha) / (k + C alpha), so a class with no vote keeps a finite cross-entropy. k and alpha are fitted.
- **GD, s steps** (s = 2..5): s steps of gradient descent with rate eta on the context's mean cross-entropy of linear
  softmax regression, logits W x (no bias), from W = 0. The first step is exactly eq. 2 (up to a shift common to
  all classes, which softmax ignores). eta is fitted per s.
- **logistic regression**: the same model (logits W x, no bias: the function class of eq. 2, which contains the
  oracle as W = s Z, s -> infinity) at the minimum of mean cross-entropy + (lam / 2) |W|_F^2 on the context,
  by damped Newton until the gradient's largest entry is under `LOGREG_TOL`. Separable contexts (most, at small d)
  have no unpenalised minimum, so lam > 0, fitted.

Constants are fitted as the closed forms are (engine.fit): mean cross-entropy of the query over fixed fit contexts,
on a grid, through `fit.grid_fit` (no refinement: k is an integer and the grids are fine; lam's grid is coarser,
because each of its points solves every context). Pure JAX functions of `Contexts`, jitted per family; float32
unless x64 is on.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from engine import fit, metrics
from engine.tasks import Contexts, TaskConfig

Array = jax.Array

STEPS = (2, 3, 4, 5)
BASELINES = ("oracle", "knn", *(f"gd_{s}" for s in STEPS), "logreg")
NAMES = {"oracle": "oracle (nearest prototype)", "knn": "k-NN vote",
         **{f"gd_{s}": f"GD, {s} steps" for s in STEPS}, "logreg": "logistic regression"}
PARAM_NAMES = {"oracle": (), "knn": ("k", "alpha"), **{f"gd_{s}": ("eta",) for s in STEPS}, "logreg": ("lam",)}
FIT_N = 1_000  # fit contexts per setting: each of lam's grid points solves every one of them by Newton
KNN_ALPHA = (-3.0, 2.0, 61)  # log10 range and count
GD_ETA = (-1.0, 3.0, 61)
LOGREG_LAM = (-8.0, 1.0, 28)
LOGREG_TOL = 1e-6  # largest |gradient| entry at convergence (float32 agrees with float64 to ~1e-4 in the loss)
LOGREG_MAX_ITER = 100


def _log_grid(spec: tuple[float, float, int]) -> np.ndarray:
    return np.logspace(spec[0], spec[1], spec[2])


def _onehot(ctx: Contexts) -> Array:
    return jax.nn.one_hot(ctx.ys, ctx.protos.shape[1], dtype=ctx.xs.dtype)


def _query_ce(logits_BxC: Array, yq_B: Array) -> Array:
    """Mean cross-entropy of the query."""
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits_BxC, -1), yq_B[:, None], 1))


# ---------------------------------------------------------------- oracle


@jax.jit
def oracle_logits(ctx: Contexts) -> Array:
    """0 on the nearest prototype's class, -inf elsewhere: probability 1 on it (cross-entropy 0 when right, inf
    if it were ever wrong)."""
    near_B = jnp.argmax(jnp.einsum("bcd,bd->bc", ctx.protos, ctx.xq), -1)
    return jnp.where(jax.nn.one_hot(near_B, ctx.protos.shape[1]) > 0, 0.0, -jnp.inf).astype(ctx.xs.dtype)


# ---------------------------------------------------------------- k-nearest neighbours


def knn_votes(ctx: Contexts) -> Array:
    """(B, n, C): the votes per class among the k nearest context points, for every k = 1..n at once (nearest by
    x_i . x_q, which on the sphere is nearest in distance; ties keep the context's order)."""
    dots_BxN = jnp.einsum("bnd,bd->bn", ctx.xs, ctx.xq)
    order_BxN = jnp.argsort(-dots_BxN, axis=1, stable=True)
    return jnp.cumsum(jnp.take_along_axis(_onehot(ctx), order_BxN[..., None], 1), axis=1)


@jax.jit
def knn_logits(ctx: Contexts, k: Array, alpha: Array) -> Array:
    """log(v_c + alpha): softmax of it is the smoothed vote share (v_c + alpha) / (k + C alpha)."""
    votes_BxC = jax.lax.dynamic_index_in_dim(knn_votes(ctx), jnp.asarray(k, jnp.int32) - 1, 1, keepdims=False)
    return jnp.log(votes_BxC + alpha)


@jax.jit
def knn_grid_losses(ctx: Contexts, alphas_A: Array) -> Array:
    """Mean cross-entropy at every (k, alpha), (n, A)."""
    C = ctx.protos.shape[1]
    v_BxN = jnp.take_along_axis(knn_votes(ctx), ctx.yq[:, None, None], 2)[..., 0]
    k_N = jnp.arange(1, ctx.xs.shape[1] + 1, dtype=ctx.xs.dtype)
    per_alpha = jax.vmap(lambda a: -jnp.mean(jnp.log((v_BxN + a) / (k_N + C * a)), 0))
    return per_alpha(alphas_A.astype(ctx.xs.dtype)).T


# ---------------------------------------------------------------- multi-step GD


def _gd_step(W_BxCxd: Array, ctx: Contexts, Y_BxNxC: Array, eta: Array) -> Array:
    """One step of GD on the context's mean cross-entropy of logits W x."""
    p_BxNxC = jax.nn.softmax(jnp.einsum("bnd,bcd->bnc", ctx.xs, W_BxCxd), -1)
    grad_BxCxd = jnp.einsum("bnc,bnd->bcd", p_BxNxC - Y_BxNxC, ctx.xs) / ctx.xs.shape[1]
    return W_BxCxd - eta * grad_BxCxd


def _zeros(ctx: Contexts) -> Array:
    return jnp.zeros((ctx.xs.shape[0], ctx.protos.shape[1], ctx.xs.shape[2]), ctx.xs.dtype)


@jax.jit
def gd_steps_logits(ctx: Contexts, eta: Array, steps: Array) -> Array:
    """Logits W_s x_q after `steps` GD steps from W = 0 (`steps` may be traced: one program for every s)."""
    Y = _onehot(ctx)
    W = jax.lax.fori_loop(0, steps, lambda _, W: _gd_step(W, ctx, Y, eta), _zeros(ctx))
    return jnp.einsum("bcd,bd->bc", W, ctx.xq)


@functools.partial(jax.jit, static_argnames=("max_steps",))
def gd_steps_grid_losses(ctx: Contexts, etas_E: Array, max_steps: int) -> Array:
    """Mean cross-entropy after 1..max_steps steps at every eta, (max_steps, E): one pass per eta gives every s."""
    Y = _onehot(ctx)

    def per_eta(eta):
        def step(W, _):
            W = _gd_step(W, ctx, Y, eta)
            return W, _query_ce(jnp.einsum("bcd,bd->bc", W, ctx.xq), ctx.yq)

        return jax.lax.scan(step, _zeros(ctx), None, length=max_steps)[1]

    return jax.lax.map(per_eta, etas_E.astype(ctx.xs.dtype)).T


# ---------------------------------------------------------------- logistic regression


def _logreg_objective(W_BxCxd: Array, ctx: Contexts, Y_BxNxC: Array, lam: Array) -> Array:
    """Per context: mean cross-entropy on the context + (lam / 2) |W|^2, (B,)."""
    logp = jax.nn.log_softmax(jnp.einsum("bnd,bcd->bnc", ctx.xs, W_BxCxd), -1)
    return -jnp.mean(jnp.sum(Y_BxNxC * logp, -1), -1) + 0.5 * lam * jnp.sum(W_BxCxd**2, (1, 2))


def _spd_solve(H_BxKxK: Array, g_BxK: Array) -> Array:
    """H x = g for symmetric positive definite H, by Cholesky and two triangular solves written as plain array ops.
    Not jnp.linalg.solve: jaxlib's batched LAPACK kernels split the batch over XLA's intra-op thread pool and wait
    for the parts, so two of them running at once (two page sessions on 2 cores) took both pool threads and waited
    for each other for good."""
    B, K, _ = H_BxKxK.shape
    idx_K = jnp.arange(K)
    tiny = jnp.finfo(H_BxKxK.dtype).tiny

    def column(j, L):  # left-looking: column j of L from H's and the columns already done (the rest are 0)
        v_BxK = H_BxKxK[:, :, j] - jnp.einsum("bik,bk->bi", L, L[:, j, :])
        ljj_B = jnp.sqrt(jnp.maximum(v_BxK[:, j], tiny))
        return L.at[:, :, j].set(jnp.where(idx_K > j, v_BxK / ljj_B[:, None], jnp.where(idx_K == j, ljj_B[:, None], 0)))

    L = jax.lax.fori_loop(0, K, column, jnp.zeros_like(H_BxKxK))

    def forward(i, y):  # L y = g
        return y.at[:, i].set((g_BxK[:, i] - jnp.einsum("bk,bk->b", L[:, i, :], y)) / L[:, i, i])

    def backward(t, x):  # L^T x = y, from the last row up
        i = K - 1 - t
        return x.at[:, i].set((y[:, i] - jnp.einsum("bk,bk->b", L[:, :, i], x)) / L[:, i, i])

    y = jax.lax.fori_loop(0, K, forward, jnp.zeros_like(g_BxK))
    return jax.lax.fori_loop(0, K, backward, jnp.zeros_like(g_BxK))


def _logreg_newton(ctx: Contexts, lam: Array, W0_BxCxd: Array, tol: float, max_iter: int) -> tuple[Array, Array]:
    """Damped Newton per context until max |gradient| < tol (contexts that are done stop moving). Each step tries
    t = 1, 1/2, ..., 1/128 of the Newton step and keeps the lowest objective; where none is lower it keeps the full
    step if that shrinks the gradient, else the context stops where it is. Returns (W, max |gradient| per context):
    the caller sees which contexts reached tol."""
    B, n, d = ctx.xs.shape
    C = ctx.protos.shape[1]
    Y = _onehot(ctx)
    eye = jnp.eye(C * d, dtype=ctx.xs.dtype)
    ts_T = 0.5 ** jnp.arange(8, dtype=ctx.xs.dtype)

    def grad(W, p):
        return jnp.einsum("bnc,bnd->bcd", p - Y, ctx.xs) / n + lam * W

    def probs(W):
        return jax.nn.softmax(jnp.einsum("bnd,bcd->bnc", ctx.xs, W), -1)

    xx_BxNxdd = (ctx.xs[..., :, None] * ctx.xs[..., None, :]).reshape(B, n, d * d)  # x_i x_i^T, once

    def grad_hess(W):
        """H = (1/n) sum_i (diag p_i - p_i p_i^T) (x) x_i x_i^T + lam I, as one batched product over i."""
        p = probs(W)
        S_BxNxCC = (jnp.einsum("bnc,ce->bnce", p, jnp.eye(C, dtype=p.dtype))
                    - p[..., :, None] * p[..., None, :]).reshape(B, n, C * C)
        H = jnp.einsum("bnk,bnm->bkm", S_BxNxCC, xx_BxNxdd).reshape(B, C, C, d, d)
        return grad(W, p), H.transpose(0, 1, 3, 2, 4).reshape(B, C * d, C * d) / n + lam * eye

    def gmax(G):
        return jnp.max(jnp.abs(G), (1, 2))

    def cond(state):
        it, _, _, _, active = state
        return (it < max_iter) & jnp.any(active)

    def body(state):
        it, W, G, H, active = state
        step = _spd_solve(H, -G.reshape(B, C * d)).reshape(B, C, d)
        cand = W[None] + ts_T[:, None, None, None] * step[None]
        f_TxB = jax.vmap(lambda Wt: _logreg_objective(Wt, ctx, Y, lam))(cand)
        better = jnp.min(f_TxB, 0) < _logreg_objective(W, ctx, Y, lam)
        pick = jnp.take_along_axis(cand, jnp.argmin(f_TxB, 0)[None, :, None, None], 0)[0]
        # near the optimum the decrease falls under float32's resolution of the objective: there the full Newton
        # step is kept when it shrinks the gradient (quadratic convergence), which the objective cannot see
        closer = gmax(grad(cand[0], probs(cand[0]))) < gmax(G)
        W = jnp.where((active & better)[:, None, None], pick,
                      jnp.where((active & ~better & closer)[:, None, None], cand[0], W))
        G, H = grad_hess(W)
        # a context no step improves either way is at float precision's floor: it stops, its gradient as it is
        return it + 1, W, G, H, active & (better | closer) & (gmax(G) >= tol)

    G0, H0 = grad_hess(W0_BxCxd)
    _, W, G, _, _ = jax.lax.while_loop(cond, body, (0, W0_BxCxd, G0, H0, gmax(G0) >= tol))
    return W, gmax(G)


@functools.partial(jax.jit, static_argnames=("tol", "max_iter"))
def logreg_weights(ctx: Contexts, lam: Array, tol: float = LOGREG_TOL, max_iter: int = LOGREG_MAX_ITER
                   ) -> tuple[Array, Array]:
    """(W (B, C, d) at the penalised optimum of each context, max |gradient| there (B,)): the convergence check."""
    return _logreg_newton(ctx, jnp.asarray(lam, ctx.xs.dtype), _zeros(ctx), tol, max_iter)


def logreg_logits(ctx: Contexts, lam: Array) -> Array:
    return jnp.einsum("bcd,bd->bc", logreg_weights(ctx, lam)[0], ctx.xq)


@functools.partial(jax.jit, static_argnames=("tol", "max_iter"))
def logreg_grid_losses(ctx: Contexts, lams_L: Array, tol: float = LOGREG_TOL, max_iter: int = LOGREG_MAX_ITER
                       ) -> tuple[Array, Array]:
    """(mean cross-entropy at every lam, the largest |gradient| left at each), both (L,). Lams are solved from the
    largest down, each warm-started at the previous optimum (few Newton steps each)."""
    order = jnp.argsort(-lams_L)

    def per_lam(W, lam):
        W, g = _logreg_newton(ctx, lam, W, tol, max_iter)
        return W, (_query_ce(jnp.einsum("bcd,bd->bc", W, ctx.xq), ctx.yq), jnp.max(g))

    _, (loss, g) = jax.lax.scan(per_lam, _zeros(ctx), lams_L.astype(ctx.xs.dtype)[order])
    inv = jnp.argsort(order)
    return loss[inv], g[inv]


# ---------------------------------------------------------------- one interface


def logits(name: str, ctx: Contexts, consts: dict[str, float]) -> Array:
    """Any baseline at its constants: logits (B, C). The one dispatch from a baseline's name to its learner."""
    dt = ctx.xs.dtype
    if name == "oracle":
        return oracle_logits(ctx)
    if name == "knn":
        return knn_logits(ctx, jnp.asarray(int(round(consts["k"])), jnp.int32), jnp.asarray(consts["alpha"], dt))
    if name in PARAM_NAMES and name.startswith("gd_"):
        return gd_steps_logits(ctx, jnp.asarray(consts["eta"], dt), jnp.asarray(int(name[3:]), jnp.int32))
    if name == "logreg":
        return logreg_logits(ctx, jnp.asarray(consts["lam"], dt))
    raise ValueError(f"unknown baseline {name!r}; choose one of {BASELINES}")


def fit_all(ctx: Contexts) -> dict[str, fit.FitResult]:
    """Every baseline's constants fitted on `ctx` (mean cross-entropy of the query, on the grids above); the oracle
    has none. A lam at which some context did not converge is left out of the fit (its loss is NaN in `losses`)."""
    out: dict[str, fit.FitResult] = {}
    alphas = _log_grid(KNN_ALPHA)
    knn = np.asarray(knn_grid_losses(ctx, jnp.asarray(alphas)), np.float64)
    out["knn"] = fit.grid_fit({"k": np.arange(1, ctx.xs.shape[1] + 1), "alpha": alphas}, knn, "knn")
    etas = _log_grid(GD_ETA)
    gd = np.asarray(gd_steps_grid_losses(ctx, jnp.asarray(etas), max(STEPS)), np.float64)
    for s in STEPS:
        out[f"gd_{s}"] = fit.grid_fit({"eta": etas}, gd[s - 1], f"gd_{s}")
    lams = _log_grid(LOGREG_LAM)
    loss, g = (np.asarray(a, np.float64) for a in logreg_grid_losses(ctx, jnp.asarray(lams)))
    out["logreg"] = fit.grid_fit({"lam": lams}, np.where(g < LOGREG_TOL, loss, np.nan), "logreg")
    return out


def constants(fits: dict[str, fit.FitResult]) -> dict[str, dict[str, float]]:
    """Each baseline's fitted constants (the oracle: none)."""
    return {name: (fits[name].refined if name in fits else {}) for name in BASELINES}


def constants_text(name: str, consts: dict[str, float], on_edge: tuple[str, ...] = ()) -> str:
    """The constants as the tables show them, with a grid-edge warning."""
    if name == "oracle":
        return "knows the prototypes"
    shown = ", ".join(f"{k} {int(round(v))}" if k == "k" else f"{k} {v:.3g}" for k, v in consts.items())
    return shown + (f" ({' and '.join(on_edge)} on the grid's edge)" if on_edge else "")


def table(ctx: Contexts, fits: dict[str, fit.FitResult]) -> list[dict]:
    """One row per baseline on `ctx`: learner (its one name), kind, mean cross-entropy, accuracy, constants (with
    how many contexts logistic regression left short of its tolerance, if any)."""
    out = []
    for name in BASELINES:
        f = fits.get(name)
        consts = f.refined if f else {}
        text = constants_text(name, consts, f.on_edge if f else ())
        if name == "logreg":
            W, g = logreg_weights(ctx, jnp.asarray(consts["lam"], ctx.xs.dtype))
            lg = jnp.einsum("bcd,bd->bc", W, ctx.xq)
            short = int(jnp.sum(g >= LOGREG_TOL))
            text += f" ({short} of {ctx.batch} contexts short of the tolerance)" if short else ""
        else:
            lg = logits(name, ctx, consts)
        m = metrics.per_context(lg, ctx.yq)
        out.append({"learner": NAMES[name], "kind": "baseline", "loss": float(m["loss"].mean()) + 0.0,  # no -0.0
                    "accuracy": float(m["correct"].mean()), "constants": text})
    return out


def fitted(task: TaskConfig, N: int = FIT_N) -> dict:
    """The baselines fitted for `task` on its fixed fit contexts (`engine.fitted.fit_contexts`, the closed forms'
    own key, here N of them), from the fits' store when there (shipped in pretrained/fits for the standard
    settings, else cached in runs/.fits): name -> `engine.fitted.Fitted` (its `refined` and `on_edge`)."""
    from engine import fitted as fit_store

    got = {name: fit_store.lookup(name, task, N) for name in BASELINES if name != "oracle"}
    if any(f is None for f in got.values()):
        got = _compute(task, N)
        for f in got.values():
            fit_store.keep(f)
    return got


def ship(tasks: list[TaskConfig], folder, N: int = FIT_N) -> list:
    """Fit the baselines for `tasks` into `folder` (pretrained/fits with `python -m engine fitted`), so that
    the pages and the headline read them instead of fitting on first use."""
    from engine import fitted as fit_store

    return [fit_store.save(folder, f) for task in tasks for f in _compute(task, N).values()]


def _compute(task: TaskConfig, N: int) -> dict:
    """Every baseline fitted on `task`'s N fit contexts, in the fits' store form (name -> Fitted)."""
    from engine import fitted as fit_store

    return {name: fit_store.from_result(r, task, N) for name, r in fit_all(fit_store.fit_contexts(task, N)).items()}
