"""In-context classification tasks on the sphere S^{d-1} (docs/science.md section 1).

Each context has C hidden prototypes z_j, n labelled points (exactly n/C per class, each uniform on
its class region, the Voronoi cell of z_j) and a query whose class is uniform on 1..C.

Sampling is exact. For d = 2 the class regions are arcs, so points are drawn analytically (one
uniform each). For d >= 3 it is rejection sampling, batched: one block of candidates per context, about
as many as a sequential rejection sampler needs on average, fills each class's slots in draw order; then
rounds on the few unfinished contexts only, with ever larger blocks. Which candidate fills a slot depends on
the labels alone, so the points stay independent and uniform on their regions. Slots find their candidates
through bit masks rather than a sort, and a few steps keep XLA on CPU from recomputing fused values (`_stored`,
`_nth_set_bit`); bench/sampler.py times it against the random-number floor.
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


def candidates(key: Array, d: int, shape: tuple[int, ...]) -> Array:
    """Uniform random directions in R^d as Gaussian vectors, coordinate first (d, *shape), not normalised (a
    label needs only the direction). Drawn as one flat vector: on CPU XLA's generator runs ~2x faster over a
    flat vector than over a shape whose last axis is short. JAX's inverse-CDF normals, fused into their reader,
    cost less here than Box-Muller's logarithm, sine and cosine, or Archimedes' two uniforms at d = 3."""
    return jax.random.normal(key, (d * math.prod(shape),)).reshape(d, *shape)


def nearest(g_dxBxM: Array, protos_BxCxd: Array) -> Array:
    """Label of each candidate (index of the largest z_j . g), as a running maximum over the classes written
    out elementwise: XLA fuses it into one loop, where a batched einsum with d, C <= 10 is ~10x slower on CPU."""
    d, C = g_dxBxM.shape[0], protos_BxCxd.shape[1]
    best_v = best = None
    for c in range(C):
        v = sum(g_dxBxM[i] * protos_BxCxd[:, c, i, None] for i in range(d))
        if best is None:
            best_v, best = v, jnp.zeros(v.shape, jnp.int32)
        else:  # strictly greater: ties go to the lower index, as argmax does
            best, best_v = jnp.where(v > best_v, c, best), jnp.maximum(v, best_v)
    return best


WORD = 32  # candidates per bit mask in _fill


def _stored(lab_BxM: Array) -> Array:
    """The labels written to memory. Without this, XLA on CPU fuses the labels' computation into the class masks
    and recomputes it once per class and word: 3-4x slower. `optimization_barrier` does not stop that (XLA
    removes it before fusion on CPU), nor does a scatter at a constant offset (it becomes a fusible update); a
    scatter of one block at an offset read from the data (always 0: labels are not negative) does."""
    zero = (lab_BxM[0, 0] < 0).astype(jnp.int32)
    return jnp.zeros_like(lab_BxM)[:, None].at[:, zero].set(lab_BxM)[:, 0]


def _nth_set_bit(word: Array, rank: Array) -> Array:
    """Position of the rank-th (0-based) set bit of each uint32 word: the number of prefixes (bits 0..k) that
    hold at most rank set bits. A sum, so XLA computes it once per word instead of once per reader."""
    k = jnp.arange(WORD, dtype=jnp.uint32)
    upto_k = jax.lax.population_count(word[..., None] & (jnp.left_shift(jnp.uint32(2), k) - 1))  # 2 << 31 is 0
    return jnp.sum(upto_k.astype(jnp.int32) <= rank[..., None], axis=-1, dtype=jnp.int32)


def _fill(key, protos_BxCxd, quota_BxC, buf_dxBxCxJ, counts_BxC, m: int):
    """One block of m candidates per context; each class's next empty slots take, in draw order, the
    candidates that fall in its region. Which candidate fills which slot depends on the labels alone, and the
    points of one label are independent and uniform on its region, so every slot holds an exact draw.

    Slots find their candidate without sorting: per word of 32 candidates, one bit mask per class; a slot's
    rank in its class picks the word (running counts of set bits) and then the bit (`_nth_set_bit`). On CPU this
    costs a few elementwise passes, where a per-context sort of the block cost as much as drawing it."""
    d, B, C, J = buf_dxBxCxJ.shape
    G = -(-m // WORD)  # words per context; the last is padded with a label no class has
    g_dxBxM = candidates(key, d, (B, m))
    lab_BxM = _stored(nearest(g_dxBxM, protos_BxCxd))
    lab_BxGxW = jnp.pad(lab_BxM, ((0, 0), (0, G * WORD - m)), constant_values=C).reshape(B, G, 1, WORD)
    bit_W = jnp.left_shift(jnp.uint32(1), jnp.arange(WORD, dtype=jnp.uint32))
    masks_BxCxG = jnp.swapaxes(jnp.sum(jnp.where(lab_BxGxW == jnp.arange(C)[:, None], bit_W, jnp.uint32(0)),
                                       axis=-1, dtype=jnp.uint32), 1, 2)
    ones_BxCxG = jax.lax.population_count(masks_BxCxG).astype(jnp.int32)
    upto_BxCxG = jnp.cumsum(ones_BxCxG, axis=-1)  # class hits in words 0..g
    n_BxC = upto_BxCxG[..., -1]  # this block's hits
    r_BxCxJ = jnp.arange(J, dtype=jnp.int32) - counts_BxC[..., None]  # slot j takes the block's r-th of class c
    want = (r_BxCxJ >= 0) & (r_BxCxJ < n_BxC[..., None]) & (jnp.arange(J) < quota_BxC[..., None])
    word_BxCxJ = jnp.minimum(jnp.sum(upto_BxCxG[:, :, None] <= r_BxCxJ[..., None], axis=-1), G - 1)
    in_word = jnp.arange(G) == word_BxCxJ[..., None]  # (B, C, J, G): the slot's word, selected without a gather
    mask_BxCxJ = jnp.sum(jnp.where(in_word, masks_BxCxG[:, :, None], jnp.uint32(0)), axis=-1, dtype=jnp.uint32)
    before_BxCxJ = jnp.sum(jnp.where(in_word, (upto_BxCxG - ones_BxCxG)[:, :, None], 0), axis=-1)
    bit_BxCxJ = _nth_set_bit(mask_BxCxJ, r_BxCxJ - before_BxCxJ)
    pos_BxCJ = jnp.clip(word_BxCxJ * WORD + bit_BxCxJ, 0, m - 1).reshape(B, C * J)
    new_dxBxCxJ = jnp.take_along_axis(g_dxBxM, pos_BxCJ[None], axis=2).reshape(d, B, C, J)
    return jnp.where(want[None], new_dxBxCxJ, buf_dxBxCxJ), jnp.minimum(counts_BxC + n_BxC, quota_BxC)


# Mean points a sequential rejection sampler draws per context point at C = 5, n = 100 (bench/sampler.py
# simulates it): smaller d has more unequal class regions, so its smallest class takes longer to fill.
NEED_PER_POINT = {3: 2.12, 4: 1.85, 5: 1.65, 6: 1.57, 7: 1.52, 8: 1.48, 9: 1.45, 10: 1.43}
FIRST_PASS = 1.0  # the first block, in means of that need
ROUND_ROWS = 16  # rounds after the first pass take batch / ROUND_ROWS contexts, then a quarter as many ...
ROUND_BLOCK = 0.25  # ... with ROUND_BLOCK first blocks of candidates each, then twice as many


def first_block(task: TaskConfig) -> int:
    """Candidates per context in the first pass (a multiple of 8): about the mean a sequential rejection
    sampler needs, so that every context uses most of its block and the rounds after it touch few contexts."""
    need = NEED_PER_POINT.get(task.d, 1.4) * (task.n + 1)
    return max(8, -(-int(FIRST_PASS * need) // 8) * 8)


def _levels(batch: int, m: int) -> list[tuple[int, int]]:
    """The rounds after the first pass: (contexts per round, candidates per context), ever fewer contexts with
    ever more candidates, since the contexts left late are those with a small class region."""
    rows, m = max(1, batch // ROUND_ROWS), max(8, int(ROUND_BLOCK * m) // 8 * 8)
    levels = [(rows, m)]
    while rows > 1:
        rows, m = max(1, rows // 4), 2 * m
        levels.append((rows, m))
    return levels


def _sample_sphere(key: Array, task: TaskConfig, batch: int) -> tuple[Contexts, Array]:
    """d >= 3: one block of candidates for every context, then rounds on the unfinished ones only."""
    k_proto, k_q, k_rej = jax.random.split(key, 3)
    protos = unit(jax.random.normal(k_proto, (batch, task.C, task.d)))
    yq = jax.random.randint(k_q, (batch,), 0, task.C)
    quota = _quota(task, yq)
    m = first_block(task)
    k_first, k_rest = jax.random.split(k_rej)
    buf = jnp.zeros((task.d, batch, task.C, task.per_class + 1))
    buf, counts = _fill(k_first, protos, quota, buf, jnp.zeros((batch, task.C), jnp.int32), m)
    drawn = jnp.asarray(batch * m, jnp.int32)
    levels = _levels(batch, m)
    for i, (rows, m_round) in enumerate(levels):
        leave = levels[i + 1][0] if i + 1 < len(levels) else 0  # the next level takes this many

        def cond(state, leave=leave):
            _, _, counts, _ = state
            return jnp.sum(jnp.any(counts < quota, axis=-1)) > leave

        def body(state, rows=rows, m_round=m_round):
            key, buf, counts, drawn = state
            key, k_draw = jax.random.split(key)
            # the round takes the first `rows` unfinished contexts: row r is the context with r + 1 unfinished up to
            # it, or `batch` (past the end: its writes are dropped) when fewer are left
            upto = jnp.cumsum(jnp.any(counts < quota, axis=-1), dtype=jnp.int32)
            idx = jnp.sum(upto <= jnp.arange(rows)[:, None], axis=1, dtype=jnp.int32)
            at = jnp.minimum(idx, batch - 1)
            sub_buf, sub_counts = _fill(k_draw, protos[at], quota[at], buf[:, at], counts[at], m_round)
            return (key, buf.at[:, idx].set(sub_buf, mode="drop"), counts.at[idx].set(sub_counts, mode="drop"),
                    drawn + rows * m_round)

        k_rest, buf, counts, drawn = jax.lax.while_loop(cond, body, (k_rest, buf, counts, drawn))
    pts_BxCxJxd = jnp.moveaxis(buf, 0, -1)
    xs = unit(pts_BxCxJxd[:, :, : task.per_class].reshape(batch, task.n, task.d))
    ys = jnp.broadcast_to(jnp.repeat(jnp.arange(task.C), task.per_class), (batch, task.n))
    xq = unit(pts_BxCxJxd[jnp.arange(batch), yq, task.per_class])
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
