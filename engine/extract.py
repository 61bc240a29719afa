"""Reading a trained softmax layer as eq. (1) (docs/science.md section 7): its constants, its algorithm, and a check.

With q = [x_q, 0] only the x-rows of A reach the scores, and only the last C columns of B reach the
logits. Within the y-block of B, adding u_k to the whole row k adds h_k u_k to every logit alike,
which softmax ignores; so c_eta is read after removing each row's mean off-diagonal entry.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from engine import closed_form as cf
from engine import metrics, models
from engine.models import Params
from engine.tasks import Contexts, TaskConfig

CHECK_FACTORS = (0.5, 1.0, 2.0)
PAGE_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
# The paper's Fig. 8 (d = 3, C = 5, n = 100): its extracted constants and the pair moved off them.
PAPER_EXTRACTED = (31.07, 7.15)  # (c_sigma, c_eta)
PAPER_MOVED_OFF = (25.0, 5.0)


def constants_of_products(A: np.ndarray, B: np.ndarray, task: TaskConfig) -> tuple[float, float]:
    """(c_sigma, c_eta) of eq. (1) read from A = W_Q^T W_K and B = W_V^T W_O^T (docs/science.md section 7).

    c_sigma: mean of the diagonal of A's x-block. c_eta: B's y-block with each row's mean
    off-diagonal entry subtracted from that row (a softmax-invariant shift), then the mean of the
    diagonal. Exact for `softmax_construction` weights, whatever the row shifts. Taking the products
    lets stored snapshots (which keep A and B, not the four matrices) be read the same way.
    """
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    A_xx, B_yy = A[: task.d, : task.d], B[task.d :, task.d :]
    diag = np.diag(B_yy)
    off_mean = (B_yy.sum(1) - diag) / (task.C - 1)
    return float(np.mean(np.diag(A_xx))), float(np.mean(diag - off_mean))


def effective_constants(params: Params, task: TaskConfig) -> tuple[float, float]:
    """(c_sigma, c_eta) of eq. (1) read from a layer's weights (`constants_of_products`)."""
    return constants_of_products(*models.products(params), task)


def kernel_constants_of(A: np.ndarray, B: np.ndarray, norms: Sequence[float], task: TaskConfig,
                        sigma2: float = models.DEFAULT_SIGMA2) -> tuple[float, float]:
    """(sigma^2, eta) of kernel GD (eq. 3) read off a kernel attention layer whose RBF kernel has width `sigma2`,
    from A, B and the key norms (a_Q, a_K) (`models.key_norms`).

    With q = [x_q, 0] and |x| = 1, |W_Q q - W_K x_i|^2 = a_Q + a_K - 2 x_q^T A_xx x_i. Where A_xx = c I and the
    norms do not depend on x, the weight of point i is exp((2c - a_Q - a_K) / (2 sigma2)) k(x_i, x_q) with kernel
    width sigma^2 = sigma2 / c: eq. 3 with eta / n = b exp((2c - a_Q - a_K) / (2 sigma2)), b read off B's y-block
    as c_eta is (`constants_of_products`). Exact for `kernel_construction` weights (c = 1, a_Q = a_K = 1) and for
    any W_Q = alpha R, W_K = beta R on the x-block (R a rotation)."""
    c, b = constants_of_products(A, B, task)
    a_Q, a_K = (float(v) for v in norms)
    eta = task.n * b * math.exp(min((2 * c - a_Q - a_K) / (2 * sigma2), 700.0))
    return (float(sigma2 / c) if c != 0 else math.inf), float(eta)


def kernel_constants(params: Params, task: TaskConfig, sigma2: float = models.DEFAULT_SIGMA2) -> tuple[float, float]:
    """(sigma^2, eta) of eq. 3 read off a kernel attention layer's weights (`kernel_constants_of`)."""
    params = {k: np.asarray(v, np.float64) for k, v in params.items()}
    return kernel_constants_of(*models.products(params), np.asarray(models.key_norms(params, task.d)), task, sigma2)


def run_constants(params: Params, task: TaskConfig, kind: str) -> dict[str, float]:
    """What a run records of its weights at each evaluation: c_sigma and c_eta (`effective_constants`: eq. 1's
    for softmax; A's x-diagonal and B's y-diagonal for any kind), and for kernel attention eq. 3's sigma2, eta."""
    c_sigma, c_eta = effective_constants(params, task)
    out = {"c_sigma": float(c_sigma), "c_eta": float(c_eta)}
    if kind == "kernel":
        out["sigma2"], out["eta"] = kernel_constants(params, task)
    return out


def path(snapshots: Sequence[Mapping], task: TaskConfig) -> list[dict]:
    """A run's way through the closed forms' constants: per stored snapshot (idx, step, c_sigma, c_eta, eta).

    eta = n * c_sigma * c_eta is the rate of eq. (2) a linear layer with these weights equals
    (`linear_construction`: A's x-block I, B's y-block eta / n); for a softmax layer (c_sigma, c_eta)
    are its eq. (1) constants. Signs are kept: early in training, or for an elimination run, they are
    near zero or negative, which a log-axis chart must leave off (and say so)."""
    out = []
    for idx, snap in enumerate(snapshots):
        c_sigma, c_eta = constants_of_products(snap["A"], snap["B"], task)
        row = {"idx": idx, "step": int(snap["step"]), "c_sigma": c_sigma, "c_eta": c_eta,
               "eta": task.n * c_sigma * c_eta}
        if "norms" in snap:  # a kernel layer's snapshot: its eq. 3 reading
            row["sigma2"], row["eta"] = kernel_constants_of(snap["A"], snap["B"], snap["norms"], task)
        out.append(row)
    return out


def strategy(params: Params, task: TaskConfig) -> tuple[str, float]:
    """("selection" | "elimination", margin).

    Selection attends to the nearest context points and copies their labels (c_sigma, c_eta > 0);
    elimination attends to the furthest and subtracts theirs (both < 0). Both constants are put in
    logit units first: c_sigma / sqrt(D) is the score gained per unit of x_i . x_q, and c_eta the
    logit gained per unit of attention on a label. The decision is the sign of their sum, so
    agreeing signs decide directly and disagreeing signs (a layer doing neither cleanly, e.g. early
    in training) go to the larger of the two. The margin is |c_sigma / sqrt(D) + c_eta|: near 0,
    the reading is not meaningful. A sum of exactly 0 counts as selection.
    """
    c_sigma, c_eta = effective_constants(params, task)
    score = c_sigma / math.sqrt(task.D) + c_eta
    return ("selection" if score >= 0 else "elimination"), abs(score)


def check_constants(
    params: Params,
    ctx: Contexts,
    kind: str,
    method: str,
    consts: Mapping[str, float],
    factors: tuple[float, ...] = CHECK_FACTORS,
    query_in_keys: bool = False,
) -> list[dict]:
    """A trained layer of `kind` against the closed form `method` at constants read off it and at constants
    moved off them (docs/science.md section 7, Fig. 8): one row per (which, factor), `which` naming the constant
    multiplied by `factor` while the others stay.

    Each row is a plain dict: which, factor, the constants used, preds_diff (mean |y_hat^TR - y_hat^CF|_2),
    the means of loss, p_correct and entropy for the model (`*_model`) and for the closed form (`*_closed_form`),
    and `per_context`, a dict of (N,) numpy arrays under the same names (for scatter plots). Dropping
    `per_context` gives a table row.
    """
    model_logits = models.logits(params, ctx, kind, query_in_keys=query_in_keys)
    p_model = jax.nn.softmax(model_logits, -1)
    m_model = metrics.per_context(model_logits, ctx.yq)
    rows = []
    for which in consts:
        for factor in factors:
            moved = {k: float(v) * (factor if k == which else 1.0) for k, v in consts.items()}
            ref_logits = cf.predict(method, ctx, moved)[0]
            m_ref = metrics.per_context(ref_logits, ctx.yq)
            per = {"preds_diff": jnp.linalg.norm(p_model - jax.nn.softmax(ref_logits, -1), axis=-1)}
            for name in ("loss", "p_correct", "entropy"):
                per[f"{name}_model"] = m_model[name]
                per[f"{name}_closed_form"] = m_ref[name]
            per = {k: np.asarray(v, np.float64) for k, v in per.items()}
            row = {"which": which, "factor": float(factor), **moved}
            row.update({k: float(v.mean()) for k, v in per.items()})
            row["per_context"] = per
            rows.append(row)
    return rows


def check_extracted(
    params: Params,
    ctx: Contexts,
    c_sigma: float,
    c_eta: float,
    factors: tuple[float, ...] = CHECK_FACTORS,
    self_key: bool = False,
    query_in_keys: bool = False,
) -> list[dict]:
    """The trained softmax layer against eq. (1) (its self-key variant with `self_key`) at (c_sigma, c_eta) and
    moved off them: `check_constants`, `which` in ("c_sigma", "c_eta")."""
    method = "adaptive_self_key" if self_key else "adaptive"
    return check_constants(params, ctx, "softmax", method, {"c_sigma": c_sigma, "c_eta": c_eta}, factors,
                           query_in_keys)


def kernel_reading(params: Params, ctx: Contexts, factors: tuple[float, ...] = PAGE_FACTORS
                   ) -> tuple[dict[str, float], tuple[dict, ...]]:
    """Kernel GD (eq. 3) read off a kernel attention layer (`kernel_constants`) and checked at and off the read
    constants: ({"sigma2", "eta"}, table rows without per-context arrays)."""
    params = {k: jnp.asarray(v) for k, v in params.items()}
    sigma2, eta = kernel_constants(params, ctx.task)
    consts = {"sigma2": sigma2, "eta": eta}
    rows = check_constants(params, ctx, "kernel", "kernel_gd", consts, factors)
    return consts, tuple({k: v for k, v in r.items() if k != "per_context"} for r in rows)


@dataclasses.dataclass(frozen=True)
class Reading:
    """eq. 1 read off a softmax layer and checked: at and off the extracted constants (`rows`, one per
    constant moved and factor) and at given (c_sigma, c_eta) pairs (`pairs`, e.g. the paper's)."""

    c_sigma: float
    c_eta: float
    strategy: str
    margin: float
    rows: tuple[dict, ...]
    pairs: tuple[dict, ...]


def reading(
    params: Params,
    ctx: Contexts,
    query_in_keys: bool,
    checks: tuple[tuple[float, float], ...] = (),
    factors: tuple[float, ...] = PAGE_FACTORS,
) -> Reading:
    """The whole reading of a softmax layer against the eq. 1 variant it represents (self-key when the query
    is among its keys): constants, algorithm, the check off the extracted constants, and the check at
    each (c_sigma, c_eta) of `checks`. Rows are plain dicts (no per-context arrays)."""
    params = {k: jnp.asarray(v) for k, v in params.items()}
    task = ctx.task
    c_sigma, c_eta = effective_constants(params, task)
    name, margin = strategy(params, task)

    def table(rows: list[dict]) -> tuple[dict, ...]:
        return tuple({k: v for k, v in r.items() if k != "per_context"} for r in rows)

    rows = check_extracted(params, ctx, c_sigma, c_eta, factors, self_key=query_in_keys, query_in_keys=query_in_keys)
    pairs = []
    for cs, ce in checks:
        row = table(check_extracted(params, ctx, cs, ce, (1.0,), self_key=query_in_keys,
                                    query_in_keys=query_in_keys)[:1])[0]
        pairs.append({**row, "which": "given"})
    return Reading(float(c_sigma), float(c_eta), name, float(margin), table(rows), tuple(pairs))
