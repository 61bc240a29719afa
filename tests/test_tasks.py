import jax
import numpy as np
import pytest
from scipy import stats

from engine.tasks import TaskConfig, sample_contexts, sample_contexts_with_stats
from tests.reference import as_np


def _uniform_sphere(rng, m, d):
    x = rng.normal(size=(m, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def reference_rejection(rng, task, batch):
    """Straightforward sampler: per context, uniform points in arrival order, the first n/C of each
    class kept; the query's class uniform, then the first uniform point that falls in it."""
    out = []
    for _ in range(batch):
        z = _uniform_sphere(rng, task.C, task.d)
        pts = [np.empty((0, task.d))] * task.C
        while min(len(p) for p in pts) < task.per_class:
            x = _uniform_sphere(rng, 8 * task.n, task.d)
            lab = np.argmax(x @ z.T, 1)
            pts = [np.concatenate([p, x[lab == c]])[: task.per_class] for c, p in enumerate(pts)]
        yq = int(rng.integers(task.C))
        xq = None
        while xq is None:
            x = _uniform_sphere(rng, 8 * task.C, task.d)
            hits = x[np.argmax(x @ z.T, 1) == yq]
            xq = hits[0] if len(hits) else None
        out.append((z, np.array(pts), xq, yq))
    return out


def sequential_need(rng, task):
    """Points a sequential rejection sampler draws for one context (and its query's class)."""
    z = _uniform_sphere(rng, task.C, task.d)
    quota = np.full(task.C, task.per_class)
    quota[rng.integers(task.C)] += 1
    lab = np.argmax(_uniform_sphere(rng, 200 * task.n, task.d) @ z.T, 1)
    filled = (np.cumsum(np.eye(task.C, dtype=int)[lab], 0) >= quota).all(1)
    return int(np.argmax(filled)) + 1


@pytest.mark.parametrize("d", [2, 3, 10])
def test_exact_class_counts_labels_and_norms(x64, key, d):
    """In float64, where unit norms and nearest-prototype labels can be checked to 1e-12 (the statistical
    tests below sample in float32, the production dtype)."""
    task = TaskConfig(d=d, C=5, n=20)
    c = as_np(sample_contexts(key, task, 256))
    assert c["xs"].shape == (256, 20, d) and c["protos"].shape == (256, 5, d)
    np.testing.assert_allclose(np.linalg.norm(c["xs"], axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(c["xq"], axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(c["protos"], axis=-1), 1.0, atol=1e-12)
    nearest = np.argmax(np.einsum("bnd,bcd->bnc", c["xs"], c["protos"]), -1)
    np.testing.assert_array_equal(nearest, c["ys"])
    np.testing.assert_array_equal(np.argmax(np.einsum("bd,bcd->bc", c["xq"], c["protos"]), -1), c["yq"])
    for row in c["ys"]:
        np.testing.assert_array_equal(np.bincount(row, minlength=5), 4)


def draws(key, task: TaskConfig, total: int, batch: int) -> dict:
    """`total` contexts as batches of `batch` from keys folded off `key`: one compiled sampler for any total."""
    parts = [as_np(sample_contexts(jax.random.fold_in(key, i), task, batch)) for i in range(-(-total // batch))]
    return {f: np.concatenate([p[f] for p in parts])[:total] for f in parts[0]}


def test_query_class_is_uniform(key):
    yq = draws(key, TaskConfig(d=3, C=5, n=20), 20_000, 2000)["yq"]
    counts = np.bincount(yq, minlength=5)
    assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("d", [2, 3, 10])
def test_within_class_uniform_against_rejection_reference(d):
    task = TaskConfig(d=d, C=3, n=6)
    total = 3000
    ours = draws(jax.random.key(d), task, total, 256)
    ref = reference_rejection(np.random.default_rng(d), task, total)
    # Statistics of one context point of class 0, and of the query: cosine to the own prototype,
    # and margin to the nearest other prototype.
    def stats_of(z, x, c):
        dots = z @ x
        other = np.max(np.delete(dots, c))
        return dots[c], dots[c] - other

    s_ours = np.array([stats_of(z, xs[0], 0) + stats_of(z, xq, yq)
                       for z, xs, xq, yq in zip(ours["protos"], ours["xs"], ours["xq"], ours["yq"])])
    s_ref = np.array([stats_of(z, pts[0, 0], 0) + stats_of(z, xq, yq) for z, pts, xq, yq in ref])
    for k in range(s_ours.shape[1]):
        assert stats.ks_2samp(s_ours[:, k], s_ref[:, k]).pvalue > 1e-3, k


def test_rounds_after_the_first_pass_keep_the_distribution(monkeypatch):
    """With a first block of a tenth of the need, nearly every context is finished by the later rounds (a few
    contexts at a time, larger blocks): their points must still be uniform on their class regions."""
    from engine import tasks

    monkeypatch.setattr(tasks, "FIRST_PASS", 0.1)
    task = TaskConfig(d=4, C=3, n=6)  # a shape no other test compiles, so the patched block size is used
    assert tasks.first_block(task) == 8
    ours = draws(jax.random.key(7), task, 2000, 256)
    ref = reference_rejection(np.random.default_rng(7), task, 2000)
    cos_ours = np.einsum("bd,bd->b", ours["xs"][:, 0], ours["protos"][:, 0])
    cos_ref = np.array([z[0] @ pts[0, 0] for z, pts, _, _ in ref])
    assert stats.ks_2samp(cos_ours, cos_ref).pvalue > 1e-3
    q_ours = np.einsum("bd,bd->b", ours["xq"], ours["protos"][np.arange(2000), ours["yq"]])
    q_ref = np.array([z[yq] @ xq for z, _, xq, yq in ref])
    assert stats.ks_2samp(q_ours, q_ref).pvalue > 1e-3
    nearest = np.argmax(np.einsum("bnd,bcd->bnc", ours["xs"], ours["protos"]), -1)
    np.testing.assert_array_equal(nearest, ours["ys"])


def test_deterministic_for_a_key():
    task = TaskConfig(d=5, C=5, n=20)
    a = sample_contexts(jax.random.key(1), task, 64)
    b = sample_contexts(jax.random.key(1), task, 64)
    c = sample_contexts(jax.random.key(2), task, 64)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.allclose(a.xs, c.xs)


def test_draw_count_close_to_sequential_rejection():
    """Points drawn per context stay within 2x of what a sequential rejection sampler needs."""
    task = TaskConfig(d=5, C=5, n=50)
    _, drawn = sample_contexts_with_stats(jax.random.key(3), task, 1024)
    rng = np.random.default_rng(0)
    need = [sequential_need(rng, task) for _ in range(300)]
    assert task.n < int(drawn) < 2 * np.mean(need)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(d=1, C=5, n=100), "d must be at least 2"),
        (dict(d=3, C=5, n=101), "divisible by C"),
        (dict(d=3, C=1, n=10), "C must be at least 2"),
        (dict(d=3, C=5, n=0), "at least C"),
        (dict(d=3.0, C=5, n=10), "integer"),
    ],
)
def test_task_config_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TaskConfig(**kwargs)


def test_with_queries_asks_one_context_many_queries():
    """Every row holds the same points and prototypes; each query is labelled by its nearest prototype."""
    from engine.tasks import with_queries

    task = TaskConfig(3, 5, 20)  # the shape (and batch) of conftest's small_contexts: one compiled sampler
    ctx = sample_contexts(jax.random.key(3), task, 16)
    rng = np.random.default_rng(1)
    q = rng.normal(size=(50, 3))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    asked = with_queries(np.asarray(ctx.xs[0]), np.asarray(ctx.ys[0]), np.asarray(ctx.protos[0]), q)
    assert asked.xs.shape == (50, 20, 3) and asked.protos.shape == (50, 5, 3)
    assert np.all(np.asarray(asked.xs) == np.asarray(ctx.xs[0])) and np.all(np.asarray(asked.ys) == ctx.ys[0])
    np.testing.assert_allclose(np.asarray(asked.xq), q, rtol=1e-6)
    want = np.argmax(q @ np.asarray(ctx.protos[0], float).T, axis=1)
    assert np.array_equal(np.asarray(asked.yq), want)


def reference_fill(g_dxBxM, protos_BxCxd, quota_BxC, buf_dxBxCxJ, counts_BxC):
    """The slot rule written out per context: class c's slots counts_c .. quota_c - 1 take, in draw order, the
    block's candidates nearest to z_c (labels in float64); the other slots keep their values."""
    buf, counts = buf_dxBxCxJ.copy(), counts_BxC.copy()
    lab = np.argmax(np.einsum("dbm,bcd->bmc", g_dxBxM.astype(np.float64), protos_BxCxd.astype(np.float64)), -1)
    for b in range(lab.shape[0]):
        for c in range(protos_BxCxd.shape[1]):
            for i in np.flatnonzero(lab[b] == c):
                if counts[b, c] < quota_BxC[b, c]:
                    buf[:, b, c, counts[b, c]] = g_dxBxM[:, b, i]
                    counts[b, c] += 1
    return buf, counts


@pytest.mark.parametrize("d, C, J, m", [(3, 5, 21, 216), (5, 3, 7, 40), (10, 5, 21, 37), (4, 2, 45, 8)])
def test_fill_puts_each_class_candidates_in_draw_order(d, C, J, m):
    """One block of candidates into part-filled slots, against the rule written out: bit masks over words of 32
    candidates (m need not be a multiple of 32), slots already full, classes with no hit in the block."""
    from engine import tasks

    B = 24
    rng = np.random.default_rng(d * 100 + m)
    protos = np.asarray(tasks.unit(jax.numpy.asarray(rng.normal(size=(B, C, d)), jax.numpy.float32)))
    quota = np.full((B, C), J - 1) + (np.arange(C) == rng.integers(C, size=(B, 1)))
    counts = np.minimum(rng.integers(0, J + 1, size=(B, C)), quota)
    counts[::2] = 0  # half the contexts start empty, as in the first pass
    buf = rng.normal(size=(d, B, C, J)).astype(np.float32)
    key = jax.random.key(d + m)
    new_buf, new_counts = tasks._fill(key, protos, quota, buf, counts, m)
    g = np.asarray(tasks.candidates(key, d, (B, m)))
    ref_buf, ref_counts = reference_fill(g, protos, quota, buf, counts)
    np.testing.assert_array_equal(np.asarray(new_counts), ref_counts)
    np.testing.assert_array_equal(np.asarray(new_buf), ref_buf)
    assert (ref_counts > counts).any() and (ref_counts < quota).any()  # the block filled some slots, not all


def test_nth_set_bit_against_a_scan_of_the_bits():
    from engine.tasks import _nth_set_bit

    rng = np.random.default_rng(0)
    words = rng.integers(0, 2**32, size=2000, dtype=np.uint64).astype(np.uint32)
    words[:3] = [1, 2**31, 2**32 - 1]
    ones = [np.flatnonzero((int(w) >> np.arange(32)) & 1) for w in words]
    rank = np.array([rng.integers(len(o)) for o in ones])
    got = np.asarray(_nth_set_bit(jax.numpy.asarray(words), jax.numpy.asarray(rank, jax.numpy.int32)))
    np.testing.assert_array_equal(got, [o[r] for o, r in zip(ones, rank)])
