"""Every shipped pretrained run, re-evaluated on fresh contexts it never saw, is within 1% of the
closed-form optimum fitted on those same contexts (SPEC 8)."""

import jax
import numpy as np
import pytest

from engine import fit, metrics, models
from engine.runs import PRETRAINED_ROOT, list_runs, load_run
from engine.tasks import sample_contexts

EXPECTED = [f"fast-{kind}-d{d}" for kind in ("linear", "softmax") for d in (2, 3, 5, 10)]


def test_all_eight_settings_are_shipped():
    names = {p.name for p in list_runs(PRETRAINED_ROOT)}
    assert set(EXPECTED) <= names


@pytest.mark.parametrize("name", EXPECTED)
def test_pretrained_run_matches_closed_form_optimum_on_fresh_contexts(name):
    run = load_run(PRETRAINED_ROOT / name)
    cfg = run.config
    assert run.status == "finished", run.message
    if not run.converged:
        pytest.skip(f"{name} is shipped unconverged: {run.verdict['message']}")
    with jax.enable_x64(False):
        ctx = sample_contexts(jax.random.key(20_261_123), cfg.task, 10_000)
        params = {k: jax.numpy.asarray(v) for k, v in run.params.items()}
        logits = models.logits(params, ctx, cfg.kind, query_in_keys=cfg.query_in_keys)
        model_loss = float(metrics.per_context(logits, ctx.yq)["loss"].mean())
        res = fit.fit_gd(ctx) if cfg.yardstick == "gd" else fit.fit_adaptive(
            ctx, self_key=cfg.yardstick == "adaptive_self_key")
        best = min(res.loss, res.refined_loss)
    assert np.isfinite(model_loss)
    assert (model_loss - best) / best <= 0.01, (model_loss, best)
