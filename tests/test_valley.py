"""engine.valley: eq. 1's d = 10 valley followed to its end (docs/science.md section 6).

As c_sigma -> 0 with eta = c_sigma c_eta / sqrt(D) held, eq. 1 becomes GD (eq. 2) with rate eta: checked against
float64 numpy references (tests/reference.py) term by term; on small contexts the valley's grid and floor are
lowest at the small-c_sigma end exactly when the first-order term says so; the shipped valley is whole and its
chart draws. Contexts here are drawn in numpy (plain rejection, exactly n/C points per class), so no sampler
compiles."""

from __future__ import annotations

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

from engine import closed_form as cf
from engine import extract, fit, fitted, valley
from engine.runs import PRETRAINED_ROOT, load_run
from engine.tasks import Contexts, TaskConfig
from tests import reference as ref
from ui import specs, weight_charts

D, C, n = 15, 5, 100


# float64 for the engine's tests: the valley's end is read in differences of 1e-7 in the label sums.
engine_x64 = pytest.mark.usefixtures("x64")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def task_contexts(seed: int, N: int, d: int = 10, C: int = C, n: int = n) -> Contexts:
    """N contexts of the task (docs/science.md section 1) by plain rejection in numpy: prototypes uniform on the
    sphere, n/C points per class, the query's class uniform."""
    rng = np.random.default_rng(seed)
    k = n // C
    xs, xq, protos = np.empty((N, n, d)), np.empty((N, d)), np.empty((N, C, d))
    yq = rng.integers(0, C, N)
    for b in range(N):
        z = _unit(rng.normal(size=(C, d)))
        while True:
            p = _unit(rng.normal(size=(40 * n, d)))
            idx = [np.flatnonzero(np.argmax(p @ z.T, 1) == c) for c in range(C)]
            if all(len(i) > k for i in idx):
                break
        xs[b], xq[b], protos[b] = np.concatenate([p[i[:k]] for i in idx]), p[idx[yq[b]][k]], z
    ys = np.broadcast_to(np.repeat(np.arange(C), k), (N, n)).copy()
    return Contexts(jnp.asarray(xs), jnp.asarray(ys), jnp.asarray(xq), jnp.asarray(yq), jnp.asarray(protos))


def first_order(xs, ys, xq, eta) -> np.ndarray:
    """The derivation's c_sigma term (docs/science.md section 6): eq. 1's logits less GD's, up to a shift common to
    every class, are c_sigma eta / (2 n sqrt(D)) sum_i y_i (a_i - mean a)^2 + O(c_sigma^2), a_i = x_i . x_q."""
    a = xs @ xq
    return eta / (2 * len(xs) * math.sqrt(D)) * (np.eye(C)[ys] * ((a - a.mean()) ** 2)[:, None]).sum(0)


def centred(v: np.ndarray) -> np.ndarray:
    return v - v.mean(-1, keepdims=True)


@engine_x64
def test_eq1_tends_to_gd_up_to_a_class_constant_shift() -> None:
    """eq. 1 at c_eta = eta sqrt(D) / c_sigma: its logits less GD's are a shift common to every class (it grows like
    1 / c_sigma) plus c_sigma times the first-order term, to O(c_sigma^2); so the two softmax probabilities agree to
    O(c_sigma). The engine's eq. 1 is the numpy reference's."""
    ctx = task_contexts(0, 8)
    a = ref.as_np(ctx)
    eta = 90.0
    errs, rests = [], []
    for c in (1e-2, 1e-3, 1e-4):
        c_eta = eta * math.sqrt(D) / c
        eq1 = np.array([ref.adaptive(a["xs"][b], a["ys"][b], a["xq"][b], C, c_eta, c) for b in range(8)])
        gd = np.array([ref.gd(a["xs"][b], a["ys"][b], a["xq"][b], C, eta) for b in range(8)])
        term = np.array([first_order(a["xs"][b], a["ys"][b], a["xq"][b], eta) for b in range(8)])
        diff = eq1 - gd
        # The shift, exactly: eq. 1's logits average c_eta / C over the classes (its weights sum to 1), GD's
        # eta mean(a) / C (n/C points per class); all that differs between classes is c_sigma's term and beyond.
        abar = np.einsum("bnd,bd->bn", a["xs"], a["xq"]).mean(-1)
        np.testing.assert_allclose(diff.mean(-1), c_eta / C - eta * abar / C, rtol=1e-12)
        rests.append(np.abs(centred(diff) - c * centred(term)).max())
        errs.append(np.abs(ref.softmax(eq1) - ref.softmax(gd)).max())
        engine = np.asarray(cf.adaptive_logits(ctx, eta * math.sqrt(D) / c, c))
        np.testing.assert_allclose(centred(engine), centred(eq1), atol=1e-13 * eta * math.sqrt(D) / c)
    assert errs[0] < 0.05 and 0.05 < errs[1] / errs[0] < 0.2 and 0.05 < errs[2] / errs[1] < 0.2  # O(c_sigma)
    assert 0.005 < rests[1] / rests[0] < 0.02 and rests[2] < 1e-6  # what is left after the c_sigma term: O(c^2)


@engine_x64
def test_unbalanced_classes_have_no_gd_limit() -> None:
    """The limit needs exactly n/C points per class: otherwise the 1 / c_sigma term differs between classes and
    eq. 1's logits run off instead of settling on GD's."""
    ctx = task_contexts(1, 1)
    a = ref.as_np(ctx)
    ys = a["ys"][0].copy()
    ys[:3] = 1  # class 0 loses three points to class 1
    spread = [np.ptp(centred(ref.adaptive(a["xs"][0], ys, a["xq"][0], C, 90 * math.sqrt(D) / c, c)
                             - ref.gd(a["xs"][0], ys, a["xq"][0], C, 90.0))) for c in (1e-2, 1e-3)]
    assert spread[1] > 9 * spread[0] > 100


def reference_slope(ctx: Contexts, eta: float) -> np.ndarray:
    """d loss / d c_sigma at the valley's end, per context, from the first-order term: sum_c (p_c - y_c) term_c with
    p GD's probabilities (shifts common to every class drop out, as sum_c (p_c - y_c) = 0)."""
    a = ref.as_np(ctx)
    out = []
    for b in range(len(a["yq"])):
        p = ref.softmax(ref.gd(a["xs"][b], a["ys"][b], a["xq"][b], C, eta))
        out.append(((p - np.eye(C)[a["yq"][b]]) * first_order(a["xs"][b], a["ys"][b], a["xq"][b], eta)).sum())
    return np.array(out)


@engine_x64
@pytest.mark.parametrize("seed, lower_end", [(5, "GD"), (0, "inside")])
def test_floor_slope_is_the_first_order_term_and_decides_the_lower_end(seed: int, lower_end: str) -> None:
    """On 256 contexts the floor's loss above GD's, over c_sigma, is the reference's slope near the end (and
    `end_slope` reads the same); where that slope is positive the grid's and the floor's minimum are the
    small-c_sigma end, GD; where a small draw makes it negative, eq. 1 beats GD a little inside the valley."""
    ctx = task_contexts(seed, 256)
    cs, etas = np.logspace(-5, 1, 13), np.logspace(1, 3, 41)
    losses = fit.rate_grid_losses(ctx, "adaptive", cs, etas)
    floor_eta, floor_loss = fit.rate_floor(ctx, "adaptive", cs, etas[np.argmin(losses, 1)])
    (gd_eta,), (gd_loss,) = fit.rate_floor(ctx, "gd", np.ones(1), floor_eta[:1])
    np.testing.assert_allclose(floor_eta[0], gd_eta, rtol=1e-3)  # eq. 1's floor ends at GD's rate ...
    slope = reference_slope(ctx, gd_eta).mean()
    np.testing.assert_allclose((floor_loss[:3] - gd_loss) / cs[:3], slope, rtol=2e-3)  # ... linearly in c_sigma
    np.testing.assert_allclose(valley.end_slope(ctx, gd_eta).mean(), slope, rtol=2e-3)
    at_end = np.unravel_index(int(np.argmin(losses)), losses.shape)[0] == 0
    if lower_end == "GD":
        assert slope > 0 and at_end and np.all(np.diff(floor_loss) > 0)
    else:
        assert slope < 0 and not at_end and floor_loss.min() < gd_loss


def test_shipped_valley_is_whole_and_ends_at_gd() -> None:
    """pretrained/fits' valley (python -m engine valley): small, its floor rising from the GD end over the whole
    c_sigma range, far past the fitting grid's top c_eta, its numbers consistent with the shipped fits."""
    v = valley.stored()
    assert v is not None and v.task == valley.TASK
    size = sum(p.stat().st_size for p in fitted.shipped_dir().glob("valley-*"))
    assert size < 300_000
    assert v.losses.shape == (len(v.c_sigma), len(v.eta)) and np.isfinite(v.losses).all()
    assert v.c_sigma[0] <= 1e-5 and v.floor_c_eta[0] > 1e7  # far beyond the grid's c_eta <= 10^4
    assert np.all(np.diff(v.floor_loss) > 0) and np.all(v.excess > 0)
    np.testing.assert_allclose(v.floor_eta[0], v.gd["eta"], rtol=1e-4)
    assert v.excess[0] < 1e-7 and v.floor_loss[0] <= float(v.losses.min()) + 1e-6
    eq1 = fitted.fitted("adaptive", valley.TASK)
    assert v.shipped["top_edge_below"] == valley.top_edge_below(eq1)
    edge, paper = v.at_c_eta(1e4), v.at_c_eta(8000.0)
    assert v.shipped["top_edge_below"] < edge["c_sigma"] < paper["c_sigma"] < 0.1
    assert 1e-5 < edge["excess"] < paper["excess"] < 1e-4
    pooled = v.pooled_slope()
    assert pooled and pooled["mean"] > 3 * pooled["se"]
    text = v.summary()
    assert "where its grid stopped, not an optimum" in text and f"{v.gd['eta']:.4g}" in text


def test_write_then_read(tmp_path) -> None:
    v = valley.stored()
    valley.write(v, tmp_path)
    back = valley.stored(folder=tmp_path)
    assert back.to_json() == json.loads(json.dumps(v.to_json()))
    np.testing.assert_array_equal(back.losses, v.losses)
    assert valley.stored(TaskConfig(3, 5, 100), folder=tmp_path) is None


def test_valley_chart_reads_only_datasets_it_defines() -> None:
    """The chart lint (`ui.specs.dataset_problems`) on the valley with the shipped d = 10 run's path: its marks
    say where eq. 1 ends (GD), where the fitting grid stops and where the paper's c_eta sits."""
    v = valley.stored()
    rows = extract.path(load_run(PRETRAINED_ROOT / "fast-softmax-d10").history["snapshots"], v.task)
    spec = specs.to_spec(weight_charts.valley_with_path(v, rows))
    assert specs.dataset_problems(spec) == []
    text = json.dumps(spec)
    for needle in ("GD (eq. 2)", "the valley's end", "c_eta = 10,000", "paper's c_eta ~ 8,000"):
        assert needle in text, needle
    # The path's end is marked where the run ends on the chart's (positive) branch; mirrored, it is left off.
    positive = [dict(r, c_sigma=abs(r["c_sigma"]), c_eta=abs(r["c_eta"]), eta=abs(r["eta"])) for r in rows]
    assert "end of training" in json.dumps(specs.to_spec(weight_charts.valley_with_path(v, positive)))
    assert ("end of training" in text) == (rows[-1]["c_sigma"] > 0)



def test_landscapes_page_shows_the_valley_whole() -> None:
    """Landscapes at d = 10, eq. 1: the valley section with the command's own words and numbers, its chart linted
    as Vega-Lite reads it (`charts_of`)."""
    from tests.app_support import charts_of, open_link

    at = open_link("landscapes", d=10, C=5, n=100)
    assert not at.exception and not at.error
    assert "The valley, whole: where eq. 1 becomes GD" in [h.value for h in at.subheader]
    assert valley.stored().summary() in [m.value for m in at.markdown]
    assert any("vconcat" in spec and "the valley's end" in json.dumps(spec) for spec in charts_of(at))  # stacked


def test_command_says_a_bad_setting_in_one_line(capsys) -> None:
    from engine import cli

    assert cli.valley_main(["--setting", "10,5,101", "--out", "/nonexistent"]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
