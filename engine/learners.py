"""Every learner the app shows, behind one interface: an attention layer with its four matrices
(linear, kernel or softmax SA, trained or constructed) or a closed form with its constants.

`predict` gives each learner's logits and its attention on the n context points, the quantity the
pages draw as marker sizes: for the closed forms, the weight each context label gets (eq. 2:
(eta/n) x_i.x_q; eq. 3: (eta/n) k(x_i, x_q); eq. 1: the softmax weights).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from engine import closed_form, constructions, models
from engine.tasks import Contexts, TaskConfig

Array = jax.Array
LAYER_NAMES = {"linear": "linear SA", "kernel": "kernel SA", "softmax": "softmax SA"}


@dataclasses.dataclass(frozen=True, eq=False)
class Learner:
    """A model to evaluate. `kind` is an attention kind (models.KINDS) or a closed form
    (closed_form.METHODS); `key` names it completely, for caches, and so learners compare and hash by it (their
    weights are arrays, which have no single truth value)."""

    key: str
    label: str
    kind: str
    consts: tuple[tuple[str, float], ...] = ()
    params: tuple[tuple[str, np.ndarray], ...] = ()
    query_in_keys: bool = False
    note: str = ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Learner) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def constants(self) -> dict[str, float]:
        return dict(self.consts)

    @property
    def weights(self) -> dict[str, np.ndarray]:
        return dict(self.params)

    @property
    def is_closed_form(self) -> bool:
        return self.kind in closed_form.METHODS

    @property
    def short_name(self) -> str:
        """"softmax SA", "eq. 1", ...: the learner's family without its constants."""
        if self.is_closed_form:
            return closed_form.NAMES[self.kind]
        name = LAYER_NAMES[self.kind]
        return name + (" (query among its keys)" if self.kind == "softmax" and self.query_in_keys else "")

    @property
    def represents(self) -> str:
        """The closed form this learner is, or (for a layer) can represent exactly."""
        return self.kind if self.is_closed_form else closed_form.represented_by(self.kind, self.query_in_keys)


def _consts_t(consts: dict[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((k, float(v)) for k, v in consts.items()))


def _shown(consts_t) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in consts_t)


def of_closed_form(method: str, consts: dict[str, float], note: str = "") -> Learner:
    c = _consts_t(consts)
    return Learner(f"cf:{method}:{c}", f"{closed_form.NAMES[method]} ({_shown(c)})", method, c, note=note)


def of_construction(kind: str, task: TaskConfig, consts: dict[str, float], query_in_keys: bool = False) -> Learner:
    """The weights that make `kind` compute its closed form at `consts` (eta; sigma2 and eta; or c_sigma
    and c_eta)."""
    if kind == "linear":
        params = constructions.linear_construction(task, consts["eta"])
    elif kind == "kernel":
        params = constructions.kernel_construction(task, consts["eta"])
    else:
        params = constructions.softmax_construction(task, consts["c_eta"], consts["c_sigma"])
    c = _consts_t(consts)
    what = closed_form.NAMES[closed_form.represented_by(kind, query_in_keys)]
    return Learner(f"con:{kind}:{query_in_keys}:{task}:{c}", f"{LAYER_NAMES[kind]} (construction, {_shown(c)})", kind,
                   c, tuple((k, np.asarray(v)) for k, v in params.items()), query_in_keys,
                   note=f"construction = {what} at fitted constants")


def of_run(kind: str, params: dict, query_in_keys: bool, key: str, name: str, note: str = "") -> Learner:
    """A trained layer; `key` must change whenever its weights do (e.g. the run folder and its last write)."""
    return Learner(key, f"{LAYER_NAMES[kind]} (run {name})", kind, (),
                   tuple((k, np.asarray(v)) for k, v in params.items()), bool(query_in_keys), note=note)


def _predict(kind: str, params, consts, ctx: Contexts, query_in_keys: bool) -> tuple[Array, Array]:
    if kind in models.KINDS:
        sigma2 = consts.get("sigma2", models.DEFAULT_SIGMA2)
        lg = models.logits(params, ctx, kind, sigma2=sigma2, query_in_keys=query_in_keys)
        w = models.attention_weights(params, ctx, kind, sigma2=sigma2, query_in_keys=query_in_keys)
        return lg, w[:, :-1]
    return closed_form.predict(kind, ctx, consts)


@functools.lru_cache(maxsize=32)
def _jitted(kind: str, query_in_keys: bool) -> Callable:
    return jax.jit(lambda params, consts, ctx: _predict(kind, params, consts, ctx, query_in_keys))


def predict(learner: Learner, ctx: Contexts) -> tuple[Array, Array]:
    """(logits (B, C), attention on the n context points (B, n)), jitted once per kind."""
    params = {k: jnp.asarray(v) for k, v in learner.params}
    consts = {k: jnp.asarray(v, ctx.xs.dtype) for k, v in learner.consts}
    return _jitted(learner.kind, learner.query_in_keys)(params, consts, ctx)


def logits_fn(learner: Learner) -> Callable[[Contexts], Array]:
    """Contexts -> logits (the form `metrics.alignment` takes; traceable, so it runs under float64)."""
    params = {k: jnp.asarray(v) for k, v in learner.params}
    consts = learner.constants
    return lambda ctx: _predict(learner.kind, params, consts, ctx, learner.query_in_keys)[0]


def probabilities(learner: Learner, ctx: Contexts) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (B, C), attention on the context points (B, n)) as numpy arrays."""
    lg, w = predict(learner, ctx)
    return np.asarray(jax.nn.softmax(lg, -1)), np.asarray(w)
