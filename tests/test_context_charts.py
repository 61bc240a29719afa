"""Context chart builders through their Vega-Lite specs: the data is there, encodings and fixed domains are right,
and each template reads exactly the datasets its function gives."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.chart_support import dataset_rows, layers, named_data, spec
from ui import context_charts, geometry, specs


def test_circle_chart_has_points_prototypes_query_and_ring(circle_context) -> None:
    xs, ys, xq, yq, protos = circle_context
    w = np.linspace(-1, 1, 10)
    ring = (geometry.circle_grid(36), np.arange(36) % 3)
    s = spec(context_charts.circle_chart(xs, ys, xq, yq, protos, w, ring))
    units = layers(s)
    assert s["width"] == s["height"], "the circle needs equal axes"
    rows = dataset_rows(s)
    assert sum("rel_weight" in r for r in rows) == 10  # the context points, sized by attention
    assert sum("angle_deg" in r for r in rows) == 36  # the decision ring
    assert {r["class"] for r in rows if "angle_deg" in r} == {1, 2, 3}  # 1-based classes
    shapes = {u["mark"].get("shape") for u in units if isinstance(u["mark"], dict)}
    assert {"triangle-up", "diamond"} <= shapes  # prototype arrowheads and the query
    sized = [u for u in units if "size" in u.get("encoding", {}) and "field" in u["encoding"]["size"]]
    assert sized and sized[0]["encoding"]["size"]["field"] == "rel_weight"
    signs = {r["sign"] for r in rows if "sign" in r}
    assert signs == {"attracts (w >= 0)", "repels (w < 0)"}
    color_domains = [u["encoding"]["color"]["scale"]["domain"] for u in units if "color" in u.get("encoding", {})
                     and "scale" in u["encoding"]["color"]]
    assert all(d == [1, 2, 3] for d in color_domains)  # one class -> colour mapping everywhere


def test_sphere_chart_rotates_and_clips_back_hemisphere() -> None:
    protos = geometry.from_lonlat(np.array([0.0, 120.0, -120.0]), np.array([0.0, 10.0, -10.0]))
    xs = geometry.from_lonlat(np.array([10.0, 130.0, -110.0, 180.0]), np.array([0.0, 0.0, 0.0, 0.0]))
    g = geometry.sphere_grid(30.0)
    cells = {"lon": g["lon"], "lat": g["lat"], "class": np.zeros(len(g["lon"]), int), "step": g["step"]}
    s = spec(context_charts.sphere_chart(xs, np.array([0, 1, 2, 0]), geometry.from_lonlat(20.0, 30.0), 0, protos,
                                 np.ones(4), cells))
    assert [p["name"] for p in s["params"]] == [context_charts.ROT_LON, context_charts.ROT_LAT]
    assert s["params"][0]["value"] == -20 and s["params"][1]["value"] == -30  # centred on the query
    units = layers(s)
    assert all(u["projection"]["type"] == "orthographic" for u in units)
    by_lonlat = [u for u in units if "longitude" in u.get("encoding", {})]
    assert by_lonlat and all(any("filter" in t for t in u.get("transform", [])) for u in by_lonlat)
    cells_unit = next(u for u in units if u.get("encoding", {}).get("shape", {}).get("type") == "geojson")
    assert "Polygon" in cells_unit["transform"][0]["calculate"]  # each row becomes a clipped GeoJSON cell
    rows = [r for r in dataset_rows(s) if "lon0" in r]
    assert len(rows) == len(g["lon"])
    assert all(r["lon0"] < r["lon1"] and -90 <= r["lat0"] < r["lat1"] <= 90 for r in rows)


def test_sphere_row_shares_one_pair_of_sliders(circle_context) -> None:
    protos = geometry.from_lonlat(np.array([0.0, 120.0]), np.array([0.0, 0.0]))
    xs = geometry.from_lonlat(np.array([10.0, 100.0]), np.array([0.0, 0.0]))
    one = context_charts.sphere_chart(xs, np.array([0, 1]), xs[0], 0, protos, with_params=False)
    s = spec(context_charts.sphere_row([one, one], 10.0, 0.0))
    assert len(s["hconcat"]) == 2
    assert sorted(p["name"] for p in s["params"]) == sorted([context_charts.ROT_LON, context_charts.ROT_LAT])


def test_cosine_strip_rows_per_prototype() -> None:
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(6, 5))
    xs /= np.linalg.norm(xs, axis=1, keepdims=True)
    protos = np.eye(5)[:3]
    s = spec(context_charts.cosine_strip(xs, np.array([0, 1, 2, 0, 1, 2]), xs[0], 0, protos, np.ones(6)))
    rows = dataset_rows(s)
    assert sum("jitter" in r for r in rows) == 6 * 3
    assert all(-1 <= r["cosine"] <= 1 for r in rows)


def test_prob_bars_stack_to_one() -> None:
    probs = {"a": np.array([0.7, 0.2, 0.1]), "b": np.array([0.1, 0.1, 0.8])}
    s = spec(context_charts.prob_bars(probs, 2))
    rows = dataset_rows(s)
    for model in probs:
        assert sum(r["p"] for r in rows if r["model"] == model) == pytest.approx(1.0)
    assert s["encoding"]["x"]["stack"] == "zero"
    assert s["encoding"]["x"]["scale"]["domain"] == [0, 1]
    assert "true class: 3" in json.dumps(s["title"])


@pytest.mark.parametrize("d", [2, 3, 5])
def test_templates_read_exactly_the_datasets_given(d: int) -> None:
    rng = np.random.default_rng(d)
    xs = rng.normal(size=(8, d))
    xs /= np.linalg.norm(xs, axis=1, keepdims=True)
    protos, ys, w = xs[:3], np.arange(8) % 3, rng.normal(size=8)
    if d == 2:
        tpl = context_charts.circle_template(3, ring=True, prefix="p1_")
        ring = (geometry.circle_grid(12), np.arange(12) % 3)
        data = context_charts.circle_datasets(xs, ys, xs[0], 0, protos, w, ring, "p1_")
    elif d == 3:
        g = geometry.sphere_grid(30.0)
        tpl = context_charts.sphere_template(3, cells=True, prefix="p1_")
        data = context_charts.sphere_datasets(xs, ys, xs[0], 0, protos, w, {**g, "class": np.zeros(len(g["lon"]), int)},
                                              "p1_")
    else:
        tpl = context_charts.cosine_template(3, prefix="p1_")
        data = context_charts.cosine_datasets(xs, ys, xs[0], 0, protos, w, "p1_")
    spec_tpl = specs.to_spec(tpl)
    assert named_data(spec_tpl) == set(data)  # every layer's data is given, and nothing else
    filled = specs.fill(spec_tpl, data, context_charts.rotation_values(30.0, -10.0) if d == 3 else None)
    assert "datasets" not in spec_tpl or not set(data) & set(spec_tpl["datasets"])  # the shared template is untouched
    assert set(data) <= set(filled["datasets"])
    if d == 3:
        values = {p["name"]: p["value"] for p in filled["params"]}
        assert values == {context_charts.ROT_LON: -30, context_charts.ROT_LAT: 10}
        assert {p["name"]: p["value"] for p in spec_tpl["params"]} == {context_charts.ROT_LON: 0,
                                                                        context_charts.ROT_LAT: 0}
    # the self-contained chart validates against the Vega-Lite schema with the same rows
    whole = specs.with_data(tpl, data).to_dict()
    assert {k: len(v) for k, v in whole["datasets"].items() if k in data} == {k: len(v) for k, v in data.items()}
