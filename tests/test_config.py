"""engine.config: TrainConfig's defaults, validation and reading of old runs, the presets, the yardstick."""

import dataclasses
import inspect

import jax
import numpy as np
import pytest

from engine import config as cfgmod
from engine import constructions, models
from engine.config import PRESETS, TrainConfig, strategy_recipe
from engine.tasks import TaskConfig, sample_contexts


def test_query_in_keys_defaults_to_the_papers_model():
    """False everywhere a default is taken: the config, and the model's functions."""
    assert TrainConfig().query_in_keys is False
    for fn in (models.logits, models.attention_weights):
        assert inspect.signature(fn).parameters["query_in_keys"].default is False, fn.__name__
    # ... and the default is the behaviour: no attention on the query's own token.
    task = TaskConfig(d=3, C=3, n=6)
    ctx = sample_contexts(jax.random.key(0), task, 4)
    params = constructions.softmax_construction(task, 2.0, 3.0)
    w = models.attention_weights(params, ctx, "softmax")
    np.testing.assert_array_equal(w[:, -1], 0.0)
    np.testing.assert_array_equal(models.logits(params, ctx, "softmax"),
                                  models.logits(params, ctx, "softmax", query_in_keys=False))
    assert not np.allclose(models.logits(params, ctx, "softmax"),
                           models.logits(params, ctx, "softmax", query_in_keys=True))


def test_presets_take_the_query_among_the_keys_only_in_selfkey():
    fast_softmax = [n for n in PRESETS if n.startswith("fast-softmax-d")]
    assert sorted(n for n in fast_softmax if n.endswith("-selfkey")) == ["fast-softmax-d2-selfkey",
                                                                        "fast-softmax-d3-selfkey"]
    for name, c in PRESETS.items():
        assert c.query_in_keys is name.endswith("-selfkey"), name
        assert c.preset == name
    for d in (2, 3):  # the self-key variants differ from their base in nothing else
        base, sk = PRESETS[f"fast-softmax-d{d}"], PRESETS[f"fast-softmax-d{d}-selfkey"]
        assert dataclasses.replace(sk, query_in_keys=False, preset=base.preset) == base


def test_presets_follow_the_paper():
    p = PRESETS
    assert p["paper-linear-d5"].lr == 5e-5 and p["paper-linear-d5"].steps == 200_000
    assert p["paper-linear-d5"].clip == 1e-3 and p["paper-softmax-d5"].clip == 1.0
    assert {d: p[f"paper-softmax-d{d}"].lr for d in (2, 3, 5, 10)} == {2: 6e-4, 3: 3e-5, 5: 1e-4, 10: 5e-4}
    assert all(c.batch == 2048 and c.init_scale == 0.002 for n, c in p.items() if n.startswith("paper"))
    assert all(p[f"paper-softmax-d{d}"].steps == 2_000_000 for d in (2, 3, 5, 10))
    assert {c.lr for n, c in p.items() if n.startswith("paper-softmax-d10-lr")} == {5e-5, 1e-4, 8e-4, 3e-3}
    assert all(c.schedule == "constant" for n, c in p.items() if n.startswith("paper"))
    assert all(c.eval_contexts == 4096 and c.schedule == "warmup_cosine" for n, c in p.items() if n.startswith("fast"))
    # d = 10: decay on W_Q, W_K and a squared cosine (docs/science.md section 8).
    d10 = p["fast-softmax-d10"]
    assert d10.qk_decay > 0 and d10.cosine_power == 2.0 and d10.init_scale > 0.002
    with pytest.raises(ValueError, match="divisible"):
        TrainConfig(n=7)


def test_strategy_recipe_and_its_preset():
    r = strategy_recipe(2, 2, 100)
    assert (r.kind, r.d, r.C, r.n, r.steps, r.batch, r.lr, r.init_scale, r.clip) == (
        "softmax", 2, 2, 100, 350, 256, 3e-2, 0.002, 1.0)
    assert r.schedule == "warmup_cosine" and 1 <= r.warmup <= 100 and r.eval_every == 35
    assert dataclasses.replace(PRESETS["fig11-d2-C2"], preset="") == r
    assert strategy_recipe(3, 5, 100, steps=5).warmup == 1  # at least one warmup step


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kind="cubic"), "kind must be one of"),
        (dict(schedule="linear"), "schedule must be one of"),
        (dict(batch=0), "batch must be a positive integer"),
        (dict(steps=0), "steps must be a positive integer"),
        (dict(eval_every=0), "eval_every must be a positive integer"),
        (dict(fit_contexts=0), "fit_contexts must be a positive integer"),
        (dict(lr=0.0), "lr, clip and init_scale must be positive"),
        (dict(clip=-1.0), "lr, clip and init_scale must be positive"),
        (dict(init_scale=0.0), "lr, clip and init_scale must be positive"),
        (dict(cosine_power=0.0), "cosine_power must be positive"),
        (dict(qk_decay=-1.0), "qk_decay must be >= 0"),
        (dict(init="glorot"), r"init must be one of \('normal', 'variance_scaling'\), got 'glorot'"),
        (dict(d=1), "d must be at least 2"),
        (dict(C=5, n=101), "divisible by C"),
    ],
)
def test_validation_messages(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_dict_round_trip_and_runs_saved_before_the_options():
    c = dataclasses.replace(PRESETS["fast-softmax-d3-selfkey"], seed=7)
    assert TrainConfig.from_dict(c.to_dict()) == c
    old = c.to_dict()
    del old["query_in_keys"], old["max_snapshots"]
    got = TrainConfig.from_dict(old)
    assert got.query_in_keys is True and got.max_snapshots == 60  # the only model then, and what they kept
    assert got.yardstick == "adaptive_self_key"
    new = TrainConfig().to_dict()
    assert TrainConfig.from_dict(new).query_in_keys is False  # a stored False stays False
    with pytest.raises(ValueError, match=r"unknown fields \['heads'\]"):
        TrainConfig.from_dict({**new, "heads": 2})


def test_yardstick_and_variant_per_kind():
    assert TrainConfig(kind="linear").yardstick == "gd"
    assert TrainConfig(kind="linear", query_in_keys=True).yardstick == "gd"
    assert TrainConfig(kind="softmax").yardstick == "adaptive"
    assert TrainConfig(kind="softmax", query_in_keys=True).yardstick == "adaptive_self_key"
    assert TrainConfig(kind="linear").variant == "linear"
    assert TrainConfig(kind="softmax").variant == "softmax"
    assert TrainConfig(kind="softmax", query_in_keys=True).variant == "softmax, query among its keys"
    assert TrainConfig(d=4, C=2, n=8).task == TaskConfig(4, 2, 8)
    assert TrainConfig(kind="kernel").yardstick == "kernel_gd" and TrainConfig(kind="kernel").variant == "kernel"
    assert cfgmod.KINDS == ("linear", "softmax", "kernel")


def test_init_defaults_to_the_literal_reading_and_old_runs_read_as_it():
    """Runs saved before `init` existed were drawn N(0, init_scale^2): their config.json reads as "normal"."""
    assert TrainConfig().init == "normal" and all(c.init == "normal" for c in PRESETS.values())
    assert strategy_recipe(2, 5, 100).init == "normal"
    old = PRESETS["fig11-d2-C2"].to_dict()
    del old["init"]
    assert TrainConfig.from_dict(old) == PRESETS["fig11-d2-C2"]
    vs = dataclasses.replace(PRESETS["fig11-d2-C2"], init="variance_scaling")
    assert TrainConfig.from_dict(vs.to_dict()).init == "variance_scaling"


def test_the_default_config_starts_from_todays_weights():
    """init_state under the default draws exactly what it drew before `init` existed (float32, as trained):
    the seed's key split in two, the first split again per matrix, init_scale * N(0, 1)."""
    from engine.state import init_state

    config = dataclasses.replace(PRESETS["fig11-d2-C2"], seed=5)
    k_init, _ = jax.random.split(jax.random.key(5), 2)
    keys = jax.random.split(k_init, 4)
    D = config.task.D
    got = init_state(config)["params"]
    for name, k in zip(("W_Q", "W_K", "W_V", "W_O"), keys):
        np.testing.assert_array_equal(np.asarray(got[name]), np.asarray(0.002 * jax.random.normal(k, (D, D))))
    vs = init_state(dataclasses.replace(config, init="variance_scaling"))["params"]
    ratio = float(np.std(np.concatenate([np.ravel(v) for v in vs.values()]))) / 0.002
    assert 6 < ratio < 12  # sqrt(1 / D) / 0.002 = 8.5 at D = 7, from 196 entries
