"""A run's training state, what its checkpoints hold: the four matrices, Adam's state, the sampler's
key and the step. Its own module so that the run store can restore checkpoints without the loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from engine import models
from engine.config import TrainConfig
from engine.optim import optimizer


def init_state(config: TrainConfig) -> dict:
    """Step-0 training state."""
    k_init, k_train = jax.random.split(jax.random.key(config.seed), 2)
    params = models.init_params(k_init, config.task, config.init_scale, config.init)
    return {
        "params": params,
        "opt_state": optimizer(config).init(params),
        "key": jax.random.key_data(k_train),
        "step": jnp.asarray(0, jnp.int32),
    }


def state_template(config: TrainConfig) -> dict:
    """The shapes and types of a checkpoint (orbax restores into it)."""
    return jax.eval_shape(lambda: init_state(config))
