"""The two softmax layers side by side on the shipped runs: the Weights page opens on the paper's d = 3 layer,
checks the paper's Fig. 8 constants (extracted 31.07 / 7.15, moved off to 25 / 5) next to the run's own, and
tables both variants (query out of / among its keys) with both eq. 1 yardsticks; Compare opens on the same run
against the closed form it represents and shows both eq. 1 variants, with the baselines as yardsticks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine import baselines, extract, fitted
from engine.closed_form import NAMES
from engine.tasks import TaskConfig
from tests.app_support import charts_of, open_app


def frame_with(at, column: str):
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_weights_opens_on_the_paper_layer_with_its_fig8_check() -> None:
    at = open_app("weights")
    assert not at.exception and not at.error
    assert at.selectbox(key="run").value == "pretrained/fast-softmax-d3"
    metrics = {m.label: float(m.value) for m in at.metric if "extracted" in m.label}
    assert abs(metrics["c_sigma (extracted)"] - extract.PAPER_EXTRACTED[0]) < 2.0  # the paper's layer: 31.07
    assert abs(metrics["c_eta (extracted)"] - extract.PAPER_EXTRACTED[1]) < 0.5  # ... and 7.15
    fig8 = frame_with(at, "which")
    assert list(fig8["which"]) == ["this run's extracted", "the paper's extracted (Fig. 8a)",
                                   "the paper's moved-off pair (Fig. 8b)"]
    np.testing.assert_allclose(fig8[["c_sigma", "c_eta"]].to_numpy()[1:],
                               [extract.PAPER_EXTRACTED, extract.PAPER_MOVED_OFF])
    own, paper, moved = fig8["preds_diff"]
    assert own < moved and paper < moved  # the moved-off pair tracks the layer visibly worse
    variants = frame_with(at, "eval loss")
    assert list(variants["model"]) == ["softmax", "softmax, query among its keys"]
    assert {f"{NAMES['adaptive']} (its own): constants", f"{NAMES['adaptive_self_key']}: loss"} <= set(variants.columns)
    shipped = frame_with(at, "snapshots")
    assert (shipped["snapshots"] >= 100).all() and shipped["converged"].all() and len(shipped) >= 8


def test_weights_path_is_the_runs_constants_on_its_own_fitted_landscape() -> None:
    """The path under the heatmaps: one point per stored snapshot, at the constants read off its A and B (numpy
    reference below), over eq. 1's landscape fitted for d = 3, C = 5, n = 100; the snapshot control drives the
    heatmaps and the path's marker; nothing non-positive reaches the log axes."""
    at = open_app("weights")
    spec = next(s for s in charts_of(at) if any(p["name"] == "snapshot" for p in s.get("params", [])))
    rows = {name: data for name, data in spec["datasets"].items()}
    path = max((d for d in rows.values() if d and "on_axes" in d[0]), key=len)  # the whole path, marker's data
    snaps = json.loads(open("pretrained/fast-softmax-d3/history.json").read())["snapshots"]
    assert [p["step"] for p in path] == [s["step"] for s in snaps] and len(snaps) >= 100
    for p, s in zip(path, snaps):
        A, B = np.asarray(s["A"]), np.asarray(s["B"])
        Byy = B[3:, 3:]
        c_eta = np.mean(np.diag(Byy) - (Byy.sum(1) - np.diag(Byy)) / 4)
        np.testing.assert_allclose([p["c_sigma"], p["c_eta"]], [np.trace(A[:3, :3]) / 3, c_eta], rtol=1e-9,
                                   atol=1e-12)
    cells = next(d for d in rows.values() if d and "x0" in d[0])
    fit = fitted.fitted("adaptive", TaskConfig(3, 5, 100))
    np.testing.assert_allclose(sorted(c["loss"] for c in cells), np.sort(fit.losses.ravel()))
    drawn = [d for d in rows.values() if d and "on_axes" in d[0] and all(r["on_axes"] for r in d)]
    assert drawn and all(r["c_sigma"] > 0 and r["c_eta"] > 0 for d in drawn for r in d)
    assert "datum.idx == snapshot" in json.dumps(spec)


def test_compare_opens_on_the_headline_run_against_its_own_closed_form() -> None:
    at = open_app("compare", N=200)
    assert not at.exception and not at.error
    assert at.selectbox(key="run").value == "pretrained/fast-softmax-d3"
    against = next(sb for sb in at.selectbox if sb.label == "Against")
    assert against.value == "adaptive"
    assert float({m.label: m.value for m in at.metric}["cos sim"]) > 0.99
    both = frame_with(at, "closed form")
    assert list(both["closed form"]) == [NAMES["adaptive"], NAMES["adaptive_self_key"]]
    assert list(both["represented by this layer"]) == [True, False]
    # the yardsticks on the same contexts: the model, its closed form, then every baseline (the oracle's loss is 0)
    yard = frame_with(at, "learner")
    assert list(yard["kind"]) == ["model", "closed form", *["baseline"] * len(baselines.BASELINES)]
    assert list(yard["learner"])[2:] == [baselines.NAMES[b] for b in baselines.BASELINES]
    assert yard["loss"].iloc[2] == 0.0 and yard["accuracy"].iloc[2] == 1.0
    assert yard["loss"].iloc[0] == pytest.approx(float({m.label: m.value for m in at.metric}["loss: model"]), abs=1e-4)
    at.selectbox(key="run").set_value("pretrained/fast-softmax-d3-selfkey").run()
    against = next(sb for sb in at.selectbox if sb.label == "Against")
    assert against.value == "adaptive_self_key"  # the closed form follows the run
