"""The query-row form of every learner reproduces the engine's logits and attention at random queries (float32
precision), for d = 2, 3, 5, both query_in_keys settings, and matches an independent float64 formula."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine import learners, models, query_row
from engine.tasks import Contexts, TaskConfig, sample_contexts

C, n = 4, 12


def context_and_queries(d: int, Q: int = 9):
    task = TaskConfig(d, C, n)
    ctx = sample_contexts(jax.random.key(d), task, 1)
    xq = np.random.default_rng(d).normal(size=(Q, d))
    xq /= np.linalg.norm(xq, axis=1, keepdims=True)
    batch = Contexts(jnp.broadcast_to(ctx.xs[0], (Q, n, d)), jnp.broadcast_to(ctx.ys[0], (Q, n)),
                     jnp.asarray(xq, jnp.float32), jnp.zeros(Q, jnp.int32), jnp.broadcast_to(ctx.protos[0], (Q, C, d)))
    return task, np.asarray(ctx.xs[0]), np.asarray(ctx.ys[0]), xq, batch


def every_learner(task: TaskConfig) -> list[learners.Learner]:
    params = {k: np.asarray(v) for k, v in models.init_params(jax.random.key(7), task, 0.6).items()}
    out = [learners.of_closed_form("gd", {"eta": 30.0}),
           learners.of_closed_form("kernel_gd", {"eta": 30.0, "sigma2": 0.4}),
           learners.of_closed_form("adaptive", {"c_sigma": 6.0, "c_eta": 3.0}),
           learners.of_closed_form("adaptive_self_key", {"c_sigma": 6.0, "c_eta": 3.0})]
    for kind in ("linear", "kernel", "softmax"):
        for qik in (False, True):
            out.append(learners.of_run(kind, params, qik, f"{kind}-{qik}", "random"))
    return out


@pytest.mark.parametrize("d", [2, 3, 5])
def test_form_reproduces_the_engine(d: int) -> None:
    task, xs, ys, xq, batch = context_and_queries(d)
    for learner in every_learner(task):
        form = query_row.of_learner(learner, xs, ys, C)
        assert form.has_self == (learner.query_in_keys and learner.kind in models.KINDS
                                 or learner.kind == "adaptive_self_key")
        logits, weights = query_row.evaluate(form, xq)
        ref_logits, ref_w = (np.asarray(a, np.float64) for a in learners.predict(learner, batch))
        scale = max(1.0, np.abs(ref_logits).max())
        np.testing.assert_allclose(logits, ref_logits, atol=2e-5 * scale, err_msg=learner.key)
        np.testing.assert_allclose(weights[:, :n], ref_w, atol=2e-5 * max(1.0, np.abs(ref_w).max()),
                                   err_msg=learner.key)


def test_softmax_layer_form_against_a_float64_formula() -> None:
    """Softmax SA with the query among its keys, written out by hand in float64 on the full token matrix."""
    task, xs, ys, xq, _ = context_and_queries(3)
    params = {k: np.asarray(v, np.float64) for k, v in models.init_params(jax.random.key(3), task, 0.8).items()}
    learner = learners.of_run("softmax", params, True, "k", "r")
    logits, w = query_row.evaluate(query_row.of_learner(learner, xs, ys, C), xq)
    A, B = params["W_Q"].T @ params["W_K"], params["W_V"].T @ params["W_O"].T
    for q, x in enumerate(xq):
        X = np.vstack([np.hstack([xs, np.eye(C)[ys]]), np.append(x, np.zeros(C))])
        s = X[-1] @ A @ X.T / np.sqrt(task.D)
        a = np.exp(s - s.max())
        a /= a.sum()
        np.testing.assert_allclose(w[q], a, rtol=1e-9)
        np.testing.assert_allclose(logits[q], (a @ X @ B)[-C:], rtol=1e-9, atol=1e-12)
