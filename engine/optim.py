"""The optimiser of a run: learning-rate schedules, clipped Adam, and the decay on W_Q and W_K.

Built from optax pieces so that a sweep (`engine.sweep`) can rebuild the same chain with a per-run
step size and share the optimiser state layout with single runs.
"""

from __future__ import annotations

import optax

from engine import models
from engine.config import TrainConfig

PLATEAU_END = 0.7  # warmup_plateau_cosine holds the peak rate until this fraction of the steps
QK_DECAY_END = 0.5  # qk_decay acts until this fraction of the steps, then plain Adam settles on the valley


def learning_rate(config: TrainConfig) -> optax.Schedule:
    """constant; warmup then cosine decay to 1% of lr; or warmup, a plateau at lr, and the cosine
    decay only over the last 30% (long walks along a flat valley need the high rate for longer).

    `cosine_power` raises the cosine factor to a power: with 2 the rate is 25% of the peak at mid-run
    (50% with a plain cosine) and ~2% instead of ~10% in the last fifth, where the optimiser's noise
    no longer moves the loss (the flatness check reads the last fifth)."""
    if config.schedule == "constant":
        return optax.constant_schedule(config.lr)
    warmup = max(1, min(config.warmup, config.steps - 1))
    if config.schedule == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(0.0, config.lr, warmup, config.steps, end_value=config.lr * 1e-2,
                                                  exponent=config.cosine_power)
    plateau = max(warmup, int(PLATEAU_END * config.steps))
    return optax.join_schedules(
        [optax.linear_schedule(0.0, config.lr, warmup), optax.constant_schedule(config.lr),
         optax.cosine_decay_schedule(config.lr, max(1, config.steps - plateau), alpha=1e-2,
                                     exponent=config.cosine_power)],
        [warmup, plateau],
    )


def optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Clipped Adam; with `qk_decay`, decoupled weight decay on W_Q and W_K only, for the first
    QK_DECAY_END of the steps.

    Where the optimum is a limit along a flat valley (d = 10: c_sigma -> 0 with c_sigma * c_eta fixed),
    the loss's own pull down the valley is tiny; shrinking W_Q and W_K pushes c_sigma the same
    way while W_V and W_O grow c_eta to keep the product. The decay also holds the layer a little off
    the valley floor, so it stops before the end and the last steps settle without it.
    """
    if config.qk_decay == 0:  # the plain chain: same optimiser state as runs saved before the option
        return optax.chain(optax.clip_by_global_norm(config.clip), optax.adam(learning_rate(config)))
    return optax.chain(optax.clip_by_global_norm(config.clip),  # optax.adamw's chain, with the masked decay
                       optax.chain(optax.scale_by_adam(), qk_decay_transform(config),
                                   optax.scale_by_learning_rate(learning_rate(config))))


def qk_decay_transform(config: TrainConfig) -> optax.GradientTransformation:
    """Adds qk_decay * W to the Adam direction of W_Q and W_K until QK_DECAY_END of the steps (it is then
    scaled by the learning rate, as in AdamW)."""
    mask = {name: name in ("W_Q", "W_K") for name in models.MATRICES}
    decay = optax.piecewise_constant_schedule(config.qk_decay, {int(QK_DECAY_END * config.steps): 0.0})
    return optax.add_decayed_weights(decay, mask)
