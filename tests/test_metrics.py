import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine import closed_form as cf
from engine import constructions as cons
from engine import metrics, models
from engine.tasks import TaskConfig, sample_contexts
from tests import reference as ref


def test_per_context_matches_numpy(x64):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 4)) * 3
    yq = rng.integers(4, size=50)
    got = {k: np.asarray(v) for k, v in metrics.per_context(jnp.asarray(logits), jnp.asarray(yq)).items()}
    p = ref.softmax(logits)
    np.testing.assert_allclose(got["loss"], -np.log(p[np.arange(50), yq]), rtol=1e-12)
    np.testing.assert_allclose(got["p_correct"], p[np.arange(50), yq], rtol=1e-12)
    np.testing.assert_allclose(got["entropy"], -(p * np.log(p)).sum(-1), rtol=1e-12)
    np.testing.assert_array_equal(got["correct"], (p.argmax(-1) == yq).astype(float))


def reference_alignment(model_f, ref_f, c, C):
    """float64 numpy: softmax predictions and central-difference sensitivities, docs/science.md section 5 formulas."""
    preds, coss, diffs = [], [], []
    for b in range(len(c["xs"])):
        fm = lambda xq, b=b: model_f(c["xs"][b], c["ys"][b], xq, C)  # noqa: E731
        fr = lambda xq, b=b: ref_f(c["xs"][b], c["ys"][b], xq, C)  # noqa: E731
        xq = c["xq"][b]
        preds.append(np.linalg.norm(ref.softmax(fm(xq)) - ref.softmax(fr(xq))))
        sm, sr = ref.probs_sensitivity_fd(fm, xq), ref.probs_sensitivity_fd(fr, xq)
        gm, gr = ref.probs_sensitivity_fd(fm, xq, log=True), ref.probs_sensitivity_fd(fr, xq, log=True)
        coss.append(np.mean([gm[j] @ gr[j] / np.linalg.norm(gm[j]) / np.linalg.norm(gr[j]) for j in range(C)]))
        diffs.append(np.mean(np.linalg.norm(sm - sr, axis=-1)))
    return np.array(preds), np.array(coss), np.array(diffs)


def test_alignment_against_finite_differences(x64):
    task = TaskConfig(d=3, C=4, n=12)
    ctx = sample_contexts(jax.random.key(0), task, 6)
    params = models.init_params(jax.random.key(1), task, scale=0.8)
    got = metrics.alignment(models.model_fn(params, "softmax"), lambda c: cf.gd_logits(c, 5.0), ctx)
    want = reference_alignment(
        lambda xs, ys, xq, C: ref.model_logits(params, xs, ys, xq, C, "softmax", query_in_keys=False),
        lambda xs, ys, xq, C: ref.gd(xs, ys, xq, C, 5.0),
        ref.as_np(ctx), task.C,
    )
    for name, w in zip(("preds_diff", "cos_sim", "model_diff"), want):
        np.testing.assert_allclose(got[f"{name}_per_context"], w, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(got[name], w.mean(), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("query_in_keys", [False, True])
def test_identical_models_align_perfectly(query_in_keys):
    task = TaskConfig(d=5, C=5, n=20)
    ctx = sample_contexts(jax.random.key(2), task, 8)
    params = cons.softmax_construction(task, 3.0, 2.0)
    got = metrics.alignment(models.model_fn(params, "softmax", query_in_keys=query_in_keys),
                            lambda c: cf.adaptive_logits(c, 3.0, 2.0, query_in_keys), ctx)
    assert float(got["preds_diff"]) < 1e-12 and float(got["model_diff"]) < 1e-12
    np.testing.assert_allclose(got["cos_sim"], 1.0, rtol=1e-12)
    # The other variant of eq. 1 is a different algorithm: it does not align perfectly.
    other = metrics.alignment(models.model_fn(params, "softmax", query_in_keys=query_in_keys),
                              lambda c: cf.adaptive_logits(c, 3.0, 2.0, not query_in_keys), ctx)
    assert float(other["preds_diff"]) > 1e-6


def test_saturated_softmax_in_float32_is_finite_and_correct():
    """d = 2 with c_sigma ~ 600: scores near 230, far past float32's exp range; the reference is the
    analytic float64 derivative of eq. (1) (the model is its construction, eq. 1 self-key)."""
    task = TaskConfig(d=2, C=5, n=100)
    ctx32 = sample_contexts(jax.random.key(3), task, 8)
    assert ctx32.xs.dtype == jnp.float32
    params = cons.softmax_construction(task, 20.0, 600.0)
    assert params["W_Q"].dtype == jnp.float32
    got = metrics.alignment(models.model_fn(params, "softmax", query_in_keys=True),
                            lambda c: cf.adaptive_logits(c, 15.0, 500.0), ctx32)
    c = ref.as_np(ctx32)
    preds, coss, diffs = [], [], []
    for b in range(ctx32.batch):
        args = (c["xs"][b], c["ys"][b], c["xq"][b], task.C)
        lm, lr = ref.adaptive(*args, 20.0, 600.0, True), ref.adaptive(*args, 15.0, 500.0)
        sm, gm = ref.sensitivity_from_jacobian(lm, ref.adaptive_jacobian(*args, 20.0, 600.0, True))
        sr, gr = ref.sensitivity_from_jacobian(lr, ref.adaptive_jacobian(*args, 15.0, 500.0))
        preds.append(np.linalg.norm(ref.softmax(lm) - ref.softmax(lr)))
        coss.append(np.mean([gm[j] @ gr[j] / np.linalg.norm(gm[j]) / np.linalg.norm(gr[j]) for j in range(5)]))
        diffs.append(np.mean(np.linalg.norm(sm - sr, axis=-1)))
    for name, w in zip(("preds_diff", "cos_sim", "model_diff"), (preds, coss, diffs)):
        g = np.asarray(got[f"{name}_per_context"], np.float64)
        assert np.all(np.isfinite(g)), name
        np.testing.assert_allclose(g, w, rtol=1e-2, atol=1e-4, err_msg=name)


def test_vanishing_step_gives_chance_loss(x64):
    task = TaskConfig(d=3, C=5, n=20)
    ctx = sample_contexts(jax.random.key(5), task, 64)
    loss = metrics.per_context(cf.adaptive_logits(ctx, 1e-9, 3.0), ctx.yq)["loss"]
    np.testing.assert_allclose(loss, np.log(5), rtol=1e-8)


def test_gd_with_large_step_classifies_separable_context():
    """Context points sit on their prototypes and each query near its own: GD with a large step is
    always right and its loss goes to zero."""
    task = TaskConfig(d=3, C=5, n=20)
    ctx = sample_contexts(jax.random.key(6), task, 64)
    xs = jnp.take_along_axis(ctx.protos, ctx.ys[..., None], 1)
    near = ctx.protos[jnp.arange(64), ctx.yq]
    sep = ctx._replace(xs=xs, xq=near)
    out = metrics.per_context(cf.gd_logits(sep, 1e7), sep.yq)
    np.testing.assert_array_equal(out["correct"], 1.0)
    assert float(out["loss"].max()) < 1e-6


@pytest.mark.parametrize("kind", ["linear", "softmax"])
def test_sensitivity_matches_finite_differences(x64, kind):
    task = TaskConfig(d=3, C=3, n=6)
    ctx = sample_contexts(jax.random.key(8), task, 3)
    params = models.init_params(jax.random.key(9), task, scale=0.9)
    s, _ = metrics.sensitivities(models.model_fn(params, kind), ctx)
    c = ref.as_np(ctx)
    for b in range(3):
        fd = ref.probs_sensitivity_fd(
            lambda xq: ref.model_logits(params, c["xs"][b], c["ys"][b], xq, task.C, kind, query_in_keys=False),
            c["xq"][b]
        )
        np.testing.assert_allclose(s[b], fd, rtol=1e-6, atol=1e-10)
