"""Forward + backward of softmax self-attention: the query's row only (the engine) vs full attention.

Run: .venv/bin/python -m bench.forward

Only the query token's output is read (docs/science.md section 2), so engine.models.logits computes just the
query's row of attention, O(n D) per context. The full layer builds all (n+1) x (n+1) scores,
O(n^2 D). Both are differentiated (mean cross-entropy w.r.t. W_Q, W_K, W_V, W_O), checked to agree,
then timed.
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp

from engine.models import attention_weights, init_params, logits, products, tokens
from engine.runtime import device_summary, enable_compilation_cache
from engine.tasks import Contexts, TaskConfig, sample_contexts

BATCH = 2048
TASK = TaskConfig(d=5, C=5, n=100)
RUNS = 20
PARAM_SCALE = 1.5  # large enough that attention is far from uniform, so the check means something


def full_attention_logits(params: dict[str, jax.Array], ctx: Contexts) -> jax.Array:
    """Every token attends to every token: softmax(X A X^T / sqrt(D)) X B; read the query's (last)
    row's y-part."""
    X_ctx, q = tokens(ctx)
    X = jnp.concatenate([X_ctx, q[:, None]], axis=1)  # (B, n+1, D), query last
    A, B = products(params)
    D = X.shape[-1]
    scores = jnp.einsum("bid,de,bje->bij", X, A, X) / jnp.sqrt(jnp.asarray(D, X.dtype))
    out = jax.nn.softmax(scores, axis=-1) @ X @ B  # (B, n+1, D)
    return out[:, -1, -ctx.protos.shape[1] :]


def engine_logits(params: dict[str, jax.Array], ctx: Contexts) -> jax.Array:
    return logits(params, ctx, "softmax")


def loss_of(logits_fn):
    def loss(params, ctx):
        logp = jax.nn.log_softmax(logits_fn(params, ctx), axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, ctx.yq[:, None], axis=-1))

    return jax.jit(jax.value_and_grad(loss))


def median_seconds(fn, *args) -> float:
    jax.block_until_ready(fn(*args))  # warm-up
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    print(f"device: {device_summary()}", flush=True)
    enable_compilation_cache()
    k_ctx, k_par = jax.random.split(jax.random.key(0))
    ctx = sample_contexts(k_ctx, TASK, BATCH)
    params = init_params(k_par, TASK, scale=PARAM_SCALE)
    fns = {"(a) query row (engine)": loss_of(engine_logits), "(b) full attention": loss_of(full_attention_logits)}

    # Agreement first: logits, loss and all four gradients.
    la, lb = jax.jit(engine_logits)(params, ctx), jax.jit(full_attention_logits)(params, ctx)
    assert jnp.allclose(la, lb, rtol=1e-4, atol=1e-5), f"logits differ: max {jnp.max(jnp.abs(la - lb))}"
    (va, ga), (vb, gb) = (fn(params, ctx) for fn in fns.values())
    assert jnp.allclose(va, vb, rtol=1e-5, atol=1e-6), (va, vb)
    for name in ga:
        assert jnp.allclose(ga[name], gb[name], rtol=1e-4, atol=1e-6), (name, jnp.max(jnp.abs(ga[name] - gb[name])))
    grad_err = max(float(jnp.max(jnp.abs(ga[k] - gb[k]))) for k in ga)
    peak = float(jnp.mean(jnp.max(attention_weights(params, ctx, "softmax"), -1)))

    print(
        f"Softmax SA, value_and_grad of mean cross-entropy w.r.t. W_Q, W_K, W_V, W_O; batch {BATCH}, "
        f"d = {TASK.d}, C = {TASK.C}, n = {TASK.n}, D = {TASK.D}; jax {jax.__version__} on {jax.devices()[0].platform}"
    )
    print(
        f"agreement: max |logits diff| {float(jnp.max(jnp.abs(la - lb))):.2e}, loss {float(va):.6f} vs "
        f"{float(vb):.6f}, max |grad diff| {grad_err:.2e} "
        f"(weights scale {PARAM_SCALE}: mean largest attention weight {peak:.3f}, uniform {1 / (TASK.n + 1):.3f})"
    )
    print(f"\n{'implementation':<24} {'median ms':>10} {'contexts/s':>11}   (median of {RUNS} runs after warm-up)")
    times = {}
    for name, fn in fns.items():
        times[name] = median_seconds(fn, params, ctx)
        print(f"{name:<24} {times[name] * 1e3:>10.2f} {BATCH / times[name]:>11.0f}")
    a, b = times.values()
    print(f"\nfull / query-row time ratio: {b / a:.1f}x")


if __name__ == "__main__":
    main()
