"""Weights that make the attention models compute the closed forms exactly (docs/science.md section 4).

They are the yardsticks of what a trained layer can represent, and fixtures for the tests.
"""

from __future__ import annotations

import jax.numpy as jnp

from engine.models import Params
from engine.tasks import TaskConfig


def _blocks(task: TaskConfig, x_scale: float, y_scale: float):
    """diag(x_scale I_d, y_scale I_C)."""
    return jnp.diag(jnp.concatenate([jnp.full(task.d, x_scale), jnp.full(task.C, y_scale)]))


def linear_construction(task: TaskConfig, eta: float) -> Params:
    """A = diag(I_d, 0), B = diag(0, (eta/n) I_C): linear SA equals eq. (2)."""
    return {
        "W_Q": _blocks(task, 1.0, 0.0),
        "W_K": _blocks(task, 1.0, 0.0),
        "W_V": _blocks(task, 0.0, 1.0),
        "W_O": _blocks(task, 0.0, eta / task.n),
    }


def kernel_construction(task: TaskConfig, eta: float) -> Params:
    """W_Q = W_K = diag(I_d, 0), W_V = diag(0, I_C), W_O = diag(0, (eta/n) I_C): kernel SA equals eq. (3)
    at the model's kernel width."""
    return linear_construction(task, eta)


def softmax_construction(task: TaskConfig, c_eta: float, c_sigma: float) -> Params:
    """A = diag(c_sigma I_d, 0), B = diag(0, c_eta I_C): softmax SA equals eq. (1), self-key variant
    when the query is among the keys, plain eq. (1) when it is not."""
    return {
        "W_Q": _blocks(task, c_sigma, 0.0),
        "W_K": _blocks(task, 1.0, 0.0),
        "W_V": _blocks(task, 0.0, 1.0),
        "W_O": _blocks(task, 0.0, c_eta),
    }
