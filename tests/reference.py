"""Independent float64 numpy implementations of docs/science.md sections 2, 3 and 5, written from the formulas:
the full (n+1) x D token matrix, full attention, and finite differences."""

from __future__ import annotations

import numpy as np


def as_np(ctx):
    return {k: np.asarray(v, np.float64 if k in ("xs", "xq", "protos") else np.int64) for k, v in ctx._asdict().items()}


def token_matrix(xs, ys, xq, C):
    """X in R^{(n+1) x D}: context tokens [x_i, y_i], then the query [x_q, 0]."""
    n, d = xs.shape
    X = np.zeros((n + 1, d + C))
    X[:n, :d] = xs
    X[np.arange(n), d + ys] = 1.0
    X[n, :d] = xq
    return X


def softmax(v, axis=-1):
    v = v - v.max(axis=axis, keepdims=True)
    e = np.exp(v)
    return e / e.sum(axis=axis, keepdims=True)


def model_logits(params, xs, ys, xq, C, kind, sigma2=1.0, query_in_keys=True):
    """One context, full attention matrix over all tokens; the query's output row's y-part."""
    WQ, WK, WV, WO = (np.asarray(params[k], np.float64) for k in ("W_Q", "W_K", "W_V", "W_O"))
    X = token_matrix(xs, ys, xq, C)
    n1, D = X.shape
    Q, K, V = X @ WQ.T, X @ WK.T, X @ WV.T
    if kind == "linear":
        att = Q @ K.T
    elif kind == "kernel":
        sq = ((Q[:, None, :] - K[None, :, :]) ** 2).sum(-1)
        att = np.exp(-sq / (2 * sigma2))
    else:
        S = Q @ K.T / np.sqrt(D)
        if not query_in_keys:
            S[:, -1] = -np.inf
        att = softmax(S)
    if not query_in_keys and kind != "softmax":
        att[:, -1] = 0.0
    out = att @ V @ WO.T
    return out[-1, -C:]


def gd(xs, ys, xq, C, eta):
    n = len(xs)
    Y = np.eye(C)[ys]
    return eta / n * (Y * (xs @ xq)[:, None]).sum(0)


def kernel_gd(xs, ys, xq, C, eta, sigma2):
    n = len(xs)
    Y = np.eye(C)[ys]
    k = np.exp(-((xs - xq) ** 2).sum(-1) / (2 * sigma2))
    return eta / n * (Y * k[:, None]).sum(0)


def adaptive(xs, ys, xq, C, c_eta, c_sigma, self_key=False):
    D = xs.shape[1] + C
    Y = np.eye(C)[ys]
    s = c_sigma * (xs @ xq) / np.sqrt(D)
    if self_key:
        s = np.append(s, c_sigma * (xq @ xq) / np.sqrt(D))
        w = softmax(s)[:-1]
    else:
        w = softmax(s)
    return c_eta * (Y * w[:, None]).sum(0)


def log_softmax(v):
    v = v - v.max()
    return v - np.log(np.exp(v).sum())


def probs_sensitivity_fd(f, xq, h=1e-6, log=False):
    """d softmax(f(x_q))_j / d x_q by central differences, (C, d); of log softmax with `log`
    (same direction, and measurable where the probability itself underflows)."""
    g = log_softmax if log else softmax
    cols = []
    for k in range(len(xq)):
        e = np.zeros_like(xq)
        e[k] = h
        cols.append((g(f(xq + e)) - g(f(xq - e))) / (2 * h))
    return np.stack(cols, -1)


def adaptive_jacobian(xs, ys, xq, C, c_eta, c_sigma, self_key=False):
    """Analytic d logits / d x_q of eq. (1), (C, d): exact in float64 where finite differences see
    nothing (saturated softmax)."""
    D = xs.shape[1] + C
    a = c_sigma / np.sqrt(D)
    Y = np.eye(C)[ys]
    s, ds = a * (xs @ xq), a * xs
    if self_key:
        s, ds, Y = np.append(s, a * (xq @ xq)), np.vstack([ds, 2 * a * xq]), np.vstack([Y, np.zeros(C)])
    p = softmax(s)
    ds = ds - ds[np.argmax(p)]  # the heaviest term cancels exactly: no loss of digits
    dp = p[:, None] * (ds - p @ ds)
    return c_eta * Y.T @ dp


def sensitivity_from_jacobian(logits, J):
    """(s, g): d y_hat_j / d x_q = y_j g_j with g_j = J_j - sum_k y_k J_k (docs/science.md, 5; chain rule)."""
    y = softmax(logits)
    g = J - y @ J
    return y[:, None] * g, g


def adaptive_eta(xs, xq, c_eta, c_sigma, C, self_key=False):
    """The context-adaptive step of docs/science.md section 3 that turns kernel GD (eq. 3) at
    sigma^2 = sqrt(D) / c_sigma into eq. 1: eta(X) = c_eta e^{1/sigma^2} n / sum_j e^{x_j.x_q / sigma^2}
    (with `self_key` the query's own term e^{|x_q|^2 / sigma^2} joins the sum)."""
    n, d = xs.shape
    inv_s2 = c_sigma / np.sqrt(d + C)
    mass = np.exp(inv_s2 * (xs @ xq)).sum()
    if self_key:
        mass += np.exp(inv_s2 * (xq @ xq))
    return c_eta * np.exp(inv_s2) * n / mass


def softmax_vjp(x, g):
    """(p, p * (g - p.g)) for two entries, from the closed form that never subtracts nearly equal
    numbers: with t = x_0 - x_1, p_0 = 1 / (1 + e^-t) and the Jacobian is p_0 p_1 [[1, -1], [-1, 1]]."""
    t = x[0] - x[1]
    e = np.exp(-abs(t))  # the smaller weight's share, never overflowing
    big, small = 1.0 / (1.0 + e), e / (1.0 + e)
    p0, p1 = (big, small) if t >= 0 else (small, big)
    w = p0 * p1 * (g[0] - g[1])
    return np.array([p0, p1]), np.array([w, -w])


def rel(a, b) -> float:
    """Largest absolute difference relative to the largest entry of the reference `b`."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# ---------------------------------------------------------------- the baselines (engine/baselines.py), by loops


def nearest_prototype(protos, xq):
    """The class of the prototype nearest the query, by distance."""
    return int(np.argmin([np.linalg.norm(z - xq) for z in protos]))


def knn_probs(xs, ys, xq, C, k, alpha):
    """Smoothed vote share (v_c + alpha) / (k + C alpha) of the k context points nearest the query (by distance)."""
    order = np.argsort([np.linalg.norm(x - xq) for x in xs], kind="stable")
    votes = np.zeros(C)
    for i in order[:k]:
        votes[ys[i]] += 1
    return (votes + alpha) / (k + C * alpha)


def softmax_regression_grad(W, xs, ys, C, lam=0.0):
    """(objective, gradient) of (1/n) sum_i CE(softmax(W x_i), y_i) + (lam / 2) |W|^2, one point at a time."""
    n = len(xs)
    f, G = 0.5 * lam * np.sum(W**2), lam * W.copy()
    for i in range(n):
        p = softmax(W @ xs[i])
        f -= np.log(p[ys[i]]) / n
        G += np.outer(p - np.eye(C)[ys[i]], xs[i]) / n
    return f, G


def gd_steps(xs, ys, xq, C, eta, steps):
    """Logits W x_q after `steps` explicit gradient steps of rate eta on the context's cross-entropy, from W = 0."""
    W = np.zeros((C, xs.shape[1]))
    for _ in range(steps):
        W = W - eta * softmax_regression_grad(W, xs, ys, C)[1]
    return W @ xq
