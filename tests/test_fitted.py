"""engine.fitted: the store of closed-form fits per task setting (docs/science.md section 6).

A tiny setting (d = 3, C = 3, n = 6, N = 256 fit contexts) fitted once per module into a temporary store
(KICL_FIT_CACHE); every test that changes a store works on its own copy."""

import dataclasses
import json
import math
import shutil

import jax
import numpy as np
import pytest

from engine import fit, fitted
from engine.closed_form import METHODS, NAMES
from engine.tasks import TaskConfig, sample_contexts

TASK = TaskConfig(d=3, C=3, n=6)
N = 256


def stem(method, task=TASK, n=N):
    return f"{method}-d{task.d}-C{task.C}-n{task.n}-N{n}"


def assert_same(a: fitted.Fitted, b: fitted.Fitted) -> None:
    for field in ("method", "d", "C", "n", "N", "best", "loss", "refined", "refined_loss", "on_edge"):
        assert getattr(a, field) == getattr(b, field), field
    assert list(a.axes) == list(b.axes)
    for k in a.axes:
        np.testing.assert_array_equal(a.axes[k], b.axes[k])
    assert a.losses.dtype == b.losses.dtype == np.float32
    np.testing.assert_array_equal(a.losses, b.losses)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The four fits of TASK, computed into a fresh store; (folder, {method: Fitted})."""
    folder = tmp_path_factory.mktemp("fits")
    mp = pytest.MonkeyPatch()
    mp.setenv("KICL_FIT_CACHE", str(folder))
    try:
        assert fitted.cache_dir() == folder
        fits = {m: fitted.fitted(m, TASK, N) for m in METHODS}
    finally:
        mp.undo()
    return folder, fits


@pytest.fixture
def own_store(store, tmp_path, monkeypatch):
    """A copy of the store that this test may damage, as the cache; counts the fits computed."""
    folder = tmp_path / "cache"
    shutil.copytree(store[0], folder)
    monkeypatch.setenv("KICL_FIT_CACHE", str(folder))
    computed = []
    real = fitted.compute

    def counting(method, task, n=fitted.FIT_N):
        computed.append(method)
        return real(method, task, n)

    monkeypatch.setattr(fitted, "compute", counting)
    return folder, computed


def no_compute(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("refitted where the store had the fit")

    monkeypatch.setattr(fitted, "compute", refuse)


@pytest.mark.parametrize("method", METHODS)
def test_stored_fits_reload_equal(store, monkeypatch, method):
    folder, fits = store
    assert (folder / f"{stem(method)}.json").is_file() and (folder / f"{stem(method)}.npy").is_file()
    monkeypatch.setenv("KICL_FIT_CACHE", str(folder))
    no_compute(monkeypatch)
    again = fitted.fitted(method, TASK, N)
    assert_same(again, fits[method])
    f = fits[method]
    assert (f.method, f.task, f.N, f.name) == (method, TASK, N, NAMES[method])
    assert list(f.axes) == list(fit.PARAM_NAMES[method]) and f.losses.shape == tuple(len(a) for a in f.axes.values())
    meta = json.loads((folder / f"{stem(method)}.json").read_text())
    assert meta["seed"] == fitted.FIT_SEED and meta["N"] == N and meta["refined"] == f.refined


@pytest.mark.parametrize("method", METHODS)
def test_refined_constants_are_fit_method_on_the_fit_contexts(store, method):
    f = store[1][method]
    ctx = fitted.fit_contexts(TASK, N)
    r = fit.fit_method(ctx, method)
    assert f.refined == r.refined and f.best == r.best and f.on_edge == r.on_edge
    assert f.refined_loss == r.refined_loss and f.loss == r.loss
    np.testing.assert_array_equal(f.losses, np.asarray(r.losses, np.float32))
    assert f.refined_loss <= f.loss
    # The loss at the refined constants is the closed form's on those contexts.
    np.testing.assert_allclose(fit.mean_loss(ctx, method, f.refined), f.refined_loss, rtol=1e-5)


def test_fit_contexts_come_from_the_fixed_key():
    a = fitted.fit_contexts(TASK, 32)
    b = sample_contexts(jax.random.key(fitted.FIT_SEED), TASK, 32)
    other = sample_contexts(jax.random.key(fitted.FIT_SEED + 1), TASK, 32)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.xs, other.xs)


@pytest.mark.parametrize("damage", ["corrupt json", "json missing a field", "corrupt npy", "npy missing",
                                    "json missing"])
def test_a_damaged_entry_is_refitted_and_rewritten(store, own_store, damage):
    folder, computed = own_store
    meta, grid = folder / f"{stem('adaptive')}.json", folder / f"{stem('adaptive')}.npy"
    if damage == "corrupt json":
        meta.write_text("{not json")
    elif damage == "json missing a field":
        meta.write_text(json.dumps({k: v for k, v in json.loads(meta.read_text()).items() if k != "refined"}))
    elif damage == "corrupt npy":
        grid.write_bytes(grid.read_bytes()[:40])
    elif damage == "npy missing":
        grid.unlink()
    else:
        meta.unlink()
    got = fitted.fitted("adaptive", TASK, N)
    assert computed == ["adaptive"]
    assert_same(got, store[1]["adaptive"])
    json.loads(meta.read_text())  # whole again
    assert_same(fitted.fitted("adaptive", TASK, N), got)  # and now read back
    assert computed == ["adaptive"]
    assert not list(folder.glob("*.tmp"))


def test_an_unwritable_cache_still_gives_the_fit(store, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("KICL_FIT_CACHE", str(blocker / "fits"))
    assert_same(fitted.fitted("gd", TASK, N), store[1]["gd"])


def test_shipped_fits_come_first(store, tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    from engine import baselines

    paths = fitted.ship([TASK], shipped, N=N) + baselines.ship([TASK], shipped, 40)
    names = [b for b in baselines.BASELINES if b != "oracle"]
    assert paths == [shipped / f"{stem(m)}.json" for m in METHODS] + [
        shipped / f"{b}-d{TASK.d}-C{TASK.C}-n{TASK.n}-N40.json" for b in names]
    fresh = baselines.fit_all(fitted.fit_contexts(TASK, 40))  # the baselines' fits, made again, not stored
    monkeypatch.setattr(fitted, "shipped_dir", lambda: shipped)
    monkeypatch.setenv("KICL_FIT_CACHE", str(tmp_path / "empty-cache"))
    no_compute(monkeypatch)
    monkeypatch.setattr(baselines, "fit_all", lambda ctx: pytest.fail("a shipped baseline fit was refitted"))
    for m in METHODS:
        assert_same(fitted.fitted(m, TASK, N), store[1][m])
    read = baselines.fitted(TASK, 40)
    assert list(read) == names
    for b in names:
        assert read[b].refined == pytest.approx(fresh[b].refined) and read[b].on_edge == fresh[b].on_edge
    assert not (tmp_path / "empty-cache").exists()


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown closed form 'newton'"):
        fitted.fitted("newton", TASK, N)


def test_on_edge_is_stored_and_said(own_store, monkeypatch):
    """A grid whose optimum is its last value (etas far too small): the flag survives the store and the
    constants' text warns that the optimum may lie beyond the grid."""
    folder, _ = own_store
    for f in folder.glob("gd-*"):
        f.unlink()
    monkeypatch.setattr(fit, "fit_method", lambda ctx, method: fit.fit(ctx, method, {"eta": np.logspace(-3, -2, 5)}))
    f = fitted.fitted("gd", TASK, N)
    assert f.on_edge == ("eta",) and f.best["eta"] == pytest.approx(1e-2)
    assert "eta on the grid's edge" in f.constants_text()
    no_compute(monkeypatch)
    assert fitted.fitted("gd", TASK, N).on_edge == ("eta",)


def synthetic(losses_of, method="adaptive"):
    """A Fitted on the d = 10 axes with the loss landscape `losses_of(c_sigma, c_eta)`."""
    axes = fit.default_grid(method, 10)
    cs, ce = np.meshgrid(axes["c_sigma"], axes["c_eta"], indexing="ij")
    losses = losses_of(cs, ce).astype(np.float32)
    i, j = np.unravel_index(np.argmin(losses), losses.shape)
    best = {"c_sigma": float(cs[i, j]), "c_eta": float(ce[i, j])}
    loss = float(losses[i, j])
    return fitted.Fitted(method, 10, 5, 100, 1000, best, loss, best, loss, axes, losses, ())


def test_valley_is_none_for_a_point_optimum():
    f = synthetic(lambda cs, ce: 1.0 + np.log(cs / 0.1) ** 2 + np.log(ce / 100.0) ** 2)
    assert f.valley is None
    assert "flat valley" not in f.constants_text()


@pytest.mark.parametrize("product", [10.0, 30.0])
def test_valley_of_a_product_landscape(product):
    """losses = f(c_sigma * c_eta): every c_sigma whose partner c_eta = P / c_sigma lies on the c_eta axis
    ([10, 1e4]) is on the valley floor, from P / 1e4 up to P / 10 (three decades)."""
    f = synthetic(lambda cs, ce: 1.0 + np.log(cs * ce / product) ** 2)
    v = f.valley
    assert v is not None
    np.testing.assert_allclose(v["product"], product, rtol=0.05)
    np.testing.assert_allclose(v["lo"], product / 1e4, rtol=0.2)
    np.testing.assert_allclose(v["hi"], product / 10, rtol=0.2)
    np.testing.assert_allclose(v["decades"], math.log10(v["hi"] / v["lo"]))
    assert 2.5 < v["decades"] < 3.5
    text = f.constants_text()
    assert "flat valley" in text and f"{v['product']:.3g}" in text
    # Only eq. 1 has a valley: the same landscape under another name has none.
    assert dataclasses.replace(f, method="kernel_gd").valley is None


def test_shipped_d10_fit_lies_in_its_valley_and_d3_does_not(monkeypatch):
    """docs/science.md section 6, on the shipped fits: eq. 1 at d = 10 is a flat valley (with c_sigma * c_eta
    pinned), at d = 3 a point."""
    no_compute(monkeypatch)
    d10 = fitted.fitted("adaptive", TaskConfig(10, 5, 100))
    v = d10.valley
    assert v is not None and v["decades"] >= fitted.VALLEY_DECADES
    assert v["lo"] <= d10.refined["c_sigma"] * 1.5 and d10.refined["c_sigma"] < 1
    assert fitted.fitted("adaptive", TaskConfig(3, 5, 100)).valley is None


def test_read_only_fits_in_memory_and_stores_nothing(store, own_store, monkeypatch):
    """KICL_READ_ONLY=1 (a server shared with an audience): a setting not in the store is fitted for the caller and
    not written (runs/.fits stays as it was)."""
    folder, computed = own_store
    for suffix in (".json", ".npy"):
        (folder / f"{stem('gd')}{suffix}").unlink()
    before = sorted(p.name for p in folder.iterdir())
    monkeypatch.setenv("KICL_READ_ONLY", "1")
    assert_same(fitted.fitted("gd", TASK, N), store[1]["gd"])
    assert computed == ["gd"]
    assert sorted(p.name for p in folder.iterdir()) == before
