"""Every learner's prediction as a function of the query alone, for one fixed context.

In the query's row, every model here has one form. Over rows r (the n context points, then the query's
own key where it is one of the keys):

    score_r(x) = b_r + x . u_r + x^T Q_r x
    weight     = score (linear), exp(score) (kernel values) or softmax over the rows (softmax attention)
    logits(x)  = sum_r weight_r (v_r + x W_r)

u, b, Q, v, W depend on the context and the learner, not on the query x. So once they are computed, a
query can move anywhere at the cost of a few multiply-adds per point: in the browser (Vega-Lite
transforms, `ui.query_charts`) with no round trip to the server. Q is nonzero only for kernel attention
(|W_Q q|^2 is quadratic in x) and for the query's own score; W only for the query's own value.
Computed in float64 numpy: this is data to ship, not a training path.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from engine import models
from engine.learners import Learner

NORMS = ("none", "exp", "softmax")


@dataclasses.dataclass(frozen=True)
class QueryRow:
    """The query-row form of one learner on one context: R = n (+ 1 for the query's own key) rows."""

    u: np.ndarray  # (R, d)
    b: np.ndarray  # (R,)
    Q: np.ndarray  # (R, d, d), symmetric
    v: np.ndarray  # (R, C)
    W: np.ndarray  # (R, d, C)
    norm: str  # one of NORMS
    n: int  # rows [0, n) are the context points; a row n is the query's own key

    @property
    def has_self(self) -> bool:
        return self.u.shape[0] > self.n


def _onehot(ys: np.ndarray, C: int) -> np.ndarray:
    return np.eye(C)[ys]


def _rows(u, b, v, norm, *, Q=None, self_Q=None, self_W=None) -> QueryRow:
    """Context rows (u, b, v, a Q shared by all of them) plus, with `self_Q`, the query's own row."""
    n, d = u.shape
    C = v.shape[1]
    Qs = np.broadcast_to(np.zeros((d, d)) if Q is None else Q, (n, d, d))
    Ws = np.zeros((n, d, C))
    if self_Q is not None:
        u, b = np.vstack([u, np.zeros(d)]), np.append(b, 0.0)
        v = np.vstack([v, np.zeros(C)])
        Qs = np.concatenate([Qs, self_Q[None]])
        Ws = np.concatenate([Ws, (np.zeros((d, C)) if self_W is None else self_W)[None]])
    return QueryRow(np.asarray(u, float), np.asarray(b, float), np.array(Qs, float), np.asarray(v, float),
                    np.asarray(Ws, float), norm, n)


def of_learner(learner: Learner, xs: np.ndarray, ys: np.ndarray, C: int) -> QueryRow:
    """The form of `learner` on the context (xs (n, d), ys (n,) labels in 0..C-1)."""
    xs = np.asarray(xs, np.float64)
    n, d = xs.shape
    Y = _onehot(np.asarray(ys), C)
    k, c = learner.kind, learner.constants
    if k == "gd":
        return _rows(c["eta"] / n * xs, np.zeros(n), Y, "none")
    if k == "kernel_gd":
        s2 = c["sigma2"]
        return _rows(xs / s2, math.log(c["eta"] / n) - np.sum(xs**2, 1) / (2 * s2), Y, "exp", Q=-np.eye(d) / (2 * s2))
    if k in ("adaptive", "adaptive_self_key"):
        scale = c["c_sigma"] / math.sqrt(d + C)
        self_Q = scale * np.eye(d) if k == "adaptive_self_key" else None
        return _rows(scale * xs, np.zeros(n), c["c_eta"] * Y, "softmax", self_Q=self_Q)
    p = {name: np.asarray(w, np.float64) for name, w in learner.params}
    X = np.hstack([xs, Y])
    A, B = (np.asarray(m, np.float64) for m in models.products(p))
    V, W_self = X @ B[:, -C:], B[:d, -C:]  # values of the context tokens; the query token's value is x B[:d]
    qik = learner.query_in_keys
    if k == "kernel":
        s2 = c.get("sigma2", models.DEFAULT_SIGMA2)
        WQx, kx = p["W_Q"][:, :d], X @ p["W_K"].T  # W_Q q = WQx x; W_K X_i
        delta = (p["W_Q"] - p["W_K"])[:, :d]
        return _rows(kx @ WQx / s2, -np.sum(kx**2, 1) / (2 * s2), V, "exp", Q=-WQx.T @ WQx / (2 * s2),
                     self_Q=-delta.T @ delta / (2 * s2) if qik else None, self_W=W_self)
    scale = 1.0 if k == "linear" else 1.0 / math.sqrt(d + C)
    Axx = (A[:d, :d] + A[:d, :d].T) / 2  # x^T A x only sees the symmetric part
    return _rows(scale * X @ A[:d, :].T, np.zeros(n), V, "none" if k == "linear" else "softmax",
                 self_Q=scale * Axx if qik else None, self_W=W_self)


def evaluate(form: QueryRow, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits (Qn, C), weights (Qn, R)) at queries xq (Qn, d): the reference for the browser's transforms."""
    x = np.atleast_2d(np.asarray(xq, np.float64))
    s = form.b + x @ form.u.T + np.einsum("qk,rkl,ql->qr", x, form.Q, x)
    if form.norm == "none":
        w = s
    elif form.norm == "exp":
        w = np.exp(s)
    else:
        e = np.exp(s - s.max(1, keepdims=True))
        w = e / e.sum(1, keepdims=True)
    values = form.v[None] + np.einsum("qk,rkc->qrc", x, form.W)
    return np.einsum("qr,qrc->qc", w, values), w
