"""Every shipped pretrained run, re-evaluated on 10,000 fresh contexts it never saw, is within 1% of the optimum
of the closed form it represents, fitted on those same contexts (docs/science.md section 8; fewer contexts
flatter the in-sample fit); its recorded yardstick is that closed form; it keeps enough A/B snapshots to watch
the structure form."""

import jax
import numpy as np
import pytest

from engine import fit, metrics, models
from engine.closed_form import represented_by
from engine.runs import PRETRAINED_ROOT, list_runs, load_run
from engine.tasks import sample_contexts

SETTINGS = [f"fast-{kind}-d{d}" for kind in ("linear", "softmax") for d in (2, 3, 5, 10)]
SELF_KEY = [f"fast-softmax-d{d}-selfkey" for d in (2, 3)]  # the query among its keys: the other variant
EXPECTED = SETTINGS + SELF_KEY


def test_every_setting_and_both_softmax_variants_are_shipped():
    names = {p.name for p in list_runs(PRETRAINED_ROOT)}
    assert set(EXPECTED) <= names


@pytest.mark.parametrize("d", [2, 3, 5, 10])
def test_pretrained_runs_match_closed_form_optimum_on_fresh_contexts(d):
    """Every shipped run of this d (linear, softmax, and at d = 2, 3 the self-key softmax) on one set of 10,000
    fresh contexts, drawn once for them all."""
    names = [n for n in EXPECTED if n.endswith(f"-d{d}") or n.endswith(f"-d{d}-selfkey")]
    assert len(names) == (3 if d in (2, 3) else 2)
    ctx = None
    for name in names:
        run = load_run(PRETRAINED_ROOT / name)
        cfg = run.config
        assert run.status == "finished", (name, run.message)
        assert cfg.query_in_keys == name.endswith("-selfkey")  # the default layer is the paper's
        method = represented_by(cfg.kind, cfg.query_in_keys)
        assert cfg.yardstick == method and next(iter(run.history["yardsticks"])) == method
        assert run.converged, (name, run.verdict["message"])
        assert len(run.history["snapshots"]) >= 100, name
        with jax.enable_x64(False):
            ctx = ctx or sample_contexts(jax.random.key(20_261_123), cfg.task, 10_000)
            params = {k: jax.numpy.asarray(v) for k, v in run.params.items()}
            logits = models.logits(params, ctx, cfg.kind, query_in_keys=cfg.query_in_keys)
            model_loss = float(metrics.per_context(logits, ctx.yq)["loss"].mean())
            coarse = {k: v[::4] for k, v in fit.default_grid(method, d).items()}  # 25 per axis, then refined:
            res = fit.fit(ctx, method, coarse)  # the optimum to ~1e-4 at a sixteenth of the full grid's cost
            best = min(res.loss, res.refined_loss)
        assert np.isfinite(model_loss), name
        assert (model_loss - best) / best <= 0.01, (name, model_loss, best)
