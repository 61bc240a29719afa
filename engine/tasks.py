"""In-context classification tasks on the sphere S^{d-1} (docs/science.md section 1).

Each context has C hidden prototypes z_j, n labelled points (exactly n/C per class, each uniform on
its class region, the Voronoi cell of z_j) and a query whose class is uniform on 1..C.

Sampling is exact. For d = 2 the class regions are arcs, so points are drawn analytically (one
uniform each). For d >= 3 it is rejection sampling, batched: every round draws a block of uniform
points per context and keeps, per class, only as many as the class still needs. Once most contexts
are full, later rounds draw only for the unfinished ones, so the draw count stays close to that of
a sequential rejection sampler instead of being set by the slowest context of the batch.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """Shape of a task: dimension d, classes C, context length n (docs/science.md notation)."""

    d: int
    C: int
    n: int

    def __post_init__(self) -> None:
        for name in ("d", "C", "n"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if self.d < 2:
            raise ValueError(f"d must be at least 2 (points live on the sphere S^(d-1)), got d={self.d}")
        if self.C < 2:
            raise ValueError(f"C must be at least 2 classes, got C={self.C}")
        if self.n < self.C:
            raise ValueError(f"n must be at least C={self.C} (one point per class), got n={self.n}")
        if self.n % self.C:
            raise ValueError(
                f"n must be divisible by C (exactly n/C points per class): n={self.n}, C={self.C}; "
                f"try n={self.n - self.n % self.C or self.C} or n={self.n + self.C - self.n % self.C}"
            )

    @property
    def D(self) -> int:
        """Token width: the point and its one-hot label."""
        return self.d + self.C

    @property
    def per_class(self) -> int:
        return self.n // self.C


class Contexts(NamedTuple):
    """A batch of B contexts. Context points are grouped by class; models ignore order."""

    xs: Array  # (B, n, d) context points on the sphere
    ys: Array  # (B, n) int labels
    xq: Array  # (B, d) query point
    yq: Array  # (B,) int query label
    protos: Array  # (B, C, d) hidden prototypes

    @property
    def batch(self) -> int:
        return self.xs.shape[0]

    @property
    def task(self) -> TaskConfig:
        return TaskConfig(d=int(self.xs.shape[-1]), C=int(self.protos.shape[1]), n=int(self.xs.shape[1]))

    def take(self, idx) -> Contexts:
        """Select contexts along the batch axis (index, slice or index array)."""
        return jax.tree.map(lambda a: a[idx], self)


def with_queries(xs_NxD, ys_N, protos_CxD, queries_QxD) -> Contexts:
    """One context asked Q different queries: a batch of Q contexts sharing its points, each query labelled by
    its nearest prototype (what a view that moves the query, or a map of decision regions, evaluates)."""
    xs, queries = jnp.asarray(xs_NxD), jnp.asarray(queries_QxD, jnp.asarray(xs_NxD).dtype)
    protos = jnp.asarray(protos_CxD, xs.dtype)
    Q = queries.shape[0]
    return Contexts(jnp.broadcast_to(xs, (Q, *xs.shape)), jnp.broadcast_to(jnp.asarray(ys_N), (Q, *ys_N.shape)),
                    queries, jnp.argmax(queries @ protos.T, -1), jnp.broadcast_to(protos, (Q, *protos.shape)))


def unit(v: Array) -> Array:
    return v / jnp.linalg.norm(v, axis=-1, keepdims=True)


def labels_of(x_BxMxd: Array, protos_BxCxd: Array) -> Array:
    """Label of each point: index of the nearest prototype (largest z_j . x)."""
    return jnp.argmax(jnp.einsum("bmd,bcd->bmc", x_BxMxd, protos_BxCxd), axis=-1)


def _quota(task: TaskConfig, yq_B: Array) -> Array:
    """Points needed per class: n/C for the context plus one for the query's class."""
    return task.per_class + jax.nn.one_hot(yq_B, task.C, dtype=jnp.int32)


def fast_key(key: Array) -> Array:
    """An RBG key derived from any key: XLA's RngBitGenerator compiles in a fraction of threefry's
    time at these sizes and draws faster on CPU; streams stay deterministic per backend. Under `vmap`
    JAX batches RBG keys by drawing one block, so a vmapped call gives other (equally valid) numbers
    than the same keys one at a time: map over keys (`lax.map`) where the two must agree."""
    return jax.random.wrap_key_data(jax.random.bits(key, (4,), jnp.uint32), impl="rbg")


def normals(key: Array, shape: tuple[int, ...]) -> Array:
    """Standard normals by Box-Muller: exact, and on CPU about 1.7x cheaper than the inverse-CDF
    normals of `jax.random.normal`; the sampler's cost is mostly these draws."""
    size = math.prod(shape)
    half = -(-size // 2)
    u1, u2 = jax.random.uniform(key, (2, half), minval=jnp.finfo(jnp.float32).tiny)
    r = jnp.sqrt(-2.0 * jnp.log(u1))
    t = (2.0 * jnp.pi) * u2
    return jnp.concatenate([r * jnp.cos(t), r * jnp.sin(t)])[:size].reshape(shape)


def _sample_circle(key: Array, task: TaskConfig, batch: int) -> tuple[Contexts, Array]:
    """d = 2: the class region of z_j is the arc between the midpoints to its angular neighbours."""
    k_proto, k_q, k_pts = jax.random.split(key, 3)
    theta_BxC = jax.random.uniform(k_proto, (batch, task.C), maxval=2 * jnp.pi)
    order = jnp.argsort(theta_BxC, axis=-1)
    sorted_t = jnp.take_along_axis(theta_BxC, order, axis=-1)
    nxt = jnp.roll(sorted_t, -1, axis=-1).at[:, -1].add(2 * jnp.pi)
    prv = jnp.roll(sorted_t, 1, axis=-1).at[:, 0].add(-2 * jnp.pi)
    lo_sorted = (sorted_t + prv) / 2
    width_sorted = (nxt - prv) / 2
    inv = jnp.argsort(order, axis=-1)
    lo_BxC = jnp.take_along_axis(lo_sorted, inv, axis=-1)
    width_BxC = jnp.take_along_axis(width_sorted, inv, axis=-1)

    yq = jax.random.randint(k_q, (batch,), 0, task.C)
    ys = jnp.repeat(jnp.arange(task.C), task.per_class)
    labels_BxN1 = jnp.concatenate([jnp.broadcast_to(ys, (batch, task.n)), yq[:, None]], axis=1)
    u = jax.random.uniform(k_pts, labels_BxN1.shape)
    angle = jnp.take_along_axis(lo_BxC, labels_BxN1, 1) + u * jnp.take_along_axis(width_BxC, labels_BxN1, 1)
    pts = jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)
    protos = jnp.stack([jnp.cos(theta_BxC), jnp.sin(theta_BxC)], axis=-1)
    ctx = Contexts(pts[:, : task.n], labels_BxN1[:, : task.n], pts[:, task.n], yq, protos)
    return ctx, jnp.asarray(task.n + 1, jnp.int32)


def _rejection_rounds(key, protos, quota, buf, counts, drawn, *, rows: int, m: int, stop_frac: float):
    """Rounds of rejection sampling on up to `rows` unfinished contexts until few enough remain.

    Slots for class c are buf[b, c, :quota[b, c]]; counts[b, c] of them are filled.
    """
    batch, C, _, d = buf.shape

    def unfinished(counts):
        return jnp.any(counts < quota, axis=-1)

    def cond(state):
        _, _, counts, _ = state
        return jnp.mean(unfinished(counts)) > stop_frac

    def body(state):
        key, buf, counts, drawn = state
        key, k_draw = jax.random.split(key)
        todo = unfinished(counts)
        if rows == batch:
            idx = jnp.arange(batch)
        else:  # the unfinished contexts first (stable order keeps it deterministic)
            idx = jnp.argsort(~todo, stable=True)[:rows]
        x = unit(normals(k_draw, (rows, m, d)))
        lab = labels_of(x, protos[idx])
        onehot = jax.nn.one_hot(lab, C, dtype=jnp.int32)
        rank = jnp.take_along_axis(jnp.cumsum(onehot, axis=1), lab[..., None], -1)[..., 0] - 1
        lab = lab.astype(jnp.int32)
        slot = jnp.take_along_axis(counts[idx], lab, -1) + rank
        ok = (slot < jnp.take_along_axis(quota[idx], lab, -1)) & todo[idx][:, None]
        slot = jnp.where(ok, slot, buf.shape[2])  # out of range: dropped
        rows_idx = jnp.broadcast_to(idx[:, None], lab.shape)
        buf = buf.at[rows_idx, lab, slot].set(x, mode="drop")
        counts = counts.at[idx].set(jnp.minimum(counts[idx] + onehot.sum(1), quota[idx]).astype(counts.dtype))
        drawn = drawn + rows * m  # every generated point counts, used or not
        return key, buf, counts, drawn

    return jax.lax.while_loop(cond, body, (key, buf, counts, drawn))


def _schedule(task: TaskConfig, batch: int) -> list[tuple[int, int, float]]:
    """(contexts per round, points per context per round, stop when this fraction is unfinished)."""
    base = max(8, task.n // 4)
    levels, rows, k = [], batch, 0
    while rows >= 32:
        levels.append((rows, base << k, 4.0 ** -(k + 1)))
        rows, k = rows // 4, k + 1
    levels.append((max(rows, 1), base << k, 0.0))
    return levels


def _sample_sphere(key: Array, task: TaskConfig, batch: int) -> tuple[Contexts, Array]:
    k_proto, k_q, k_rej = jax.random.split(key, 3)
    protos = unit(jax.random.normal(k_proto, (batch, task.C, task.d)))
    yq = jax.random.randint(k_q, (batch,), 0, task.C)
    quota = _quota(task, yq)
    buf = jnp.zeros((batch, task.C, task.per_class + 1, task.d))
    counts = jnp.zeros((batch, task.C), jnp.int32)
    state = (k_rej, buf, counts, jnp.asarray(0, jnp.int32))
    # The whole batch first, then ever fewer unfinished contexts with ever larger rounds: the
    # contexts left late are those with a small class region, which need many points.
    for rows, m, stop_frac in _schedule(task, batch):
        state = _rejection_rounds(state[0], protos, quota, *state[1:], rows=rows, m=m, stop_frac=stop_frac)
    _, buf, _, drawn = state
    xs = buf[:, :, : task.per_class].reshape(batch, task.n, task.d)
    ys = jnp.broadcast_to(jnp.repeat(jnp.arange(task.C), task.per_class), (batch, task.n))
    xq = buf[jnp.arange(batch), yq, task.per_class]
    return Contexts(xs, ys, xq, yq, protos), drawn // batch


@functools.partial(jax.jit, static_argnames=("task", "batch"))
def sample_contexts_with_stats(key: Array, task: TaskConfig, batch: int) -> tuple[Contexts, Array]:
    """Contexts and the mean number of points drawn per context (for the sampler benchmark)."""
    key = fast_key(key)
    if task.d == 2:
        return _sample_circle(key, task, batch)
    return _sample_sphere(key, task, batch)


def sample_contexts(key: Array, task: TaskConfig, batch: int) -> Contexts:
    """Draw `batch` independent contexts of `task` (exact; deterministic for a given key)."""
    return sample_contexts_with_stats(key, task, batch)[0]
