"""Chart builders through their Vega-Lite specs: the data is there, encodings and fixed domains are right."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ui import charts


def spec(chart) -> dict:
    return chart.to_dict()


def layers(s: dict) -> list[dict]:
    """All unit specs of a (possibly layered / concatenated) spec, depth first."""
    out = []
    for key in ("layer", "hconcat", "vconcat"):
        for sub in s.get(key, []):
            out += layers(sub)
    if "mark" in s:
        out.append(s)
    return out


def dataset_rows(s: dict) -> list[dict]:
    return [row for rows in s.get("datasets", {}).values() for row in rows]


def mark_type(u: dict) -> str:
    return u["mark"] if isinstance(u["mark"], str) else u["mark"]["type"]


@pytest.fixture
def circle_context():
    rng = np.random.default_rng(0)
    ang = rng.uniform(0, 2 * np.pi, 10)
    xs = np.stack([np.cos(ang), np.sin(ang)], -1)
    protos = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    ys = np.argmax(xs @ protos.T, -1)
    return xs, ys, np.array([np.cos(0.3), np.sin(0.3)]), 0, protos


def test_circle_chart_has_points_prototypes_query_and_ring(circle_context) -> None:
    xs, ys, xq, yq, protos = circle_context
    w = np.linspace(-1, 1, 10)
    ring = (charts.circle_grid(36), np.arange(36) % 3)
    s = spec(charts.circle_chart(xs, ys, xq, yq, protos, w, ring))
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
    protos = charts.from_lonlat(np.array([0.0, 120.0, -120.0]), np.array([0.0, 10.0, -10.0]))
    xs = charts.from_lonlat(np.array([10.0, 130.0, -110.0, 180.0]), np.array([0.0, 0.0, 0.0, 0.0]))
    g = charts.sphere_grid(30.0)
    cells = {"lon": g["lon"], "lat": g["lat"], "class": np.zeros(len(g["lon"]), int), "step": g["step"]}
    s = spec(charts.sphere_chart(xs, np.array([0, 1, 2, 0]), charts.from_lonlat(20.0, 30.0), 0, protos,
                                 np.ones(4), cells))
    assert [p["name"] for p in s["params"]] == [charts.ROT_LON, charts.ROT_LAT]
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


def test_lonlat_round_trip() -> None:
    v = charts.from_lonlat(np.array([-170.0, 0.0, 45.0]), np.array([-60.0, 0.0, 80.0]))
    lon, lat = charts.lonlat(v)
    np.testing.assert_allclose(lon, [-170, 0, 45], atol=1e-9)
    np.testing.assert_allclose(lat, [-60, 0, 80], atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(v, axis=-1), 1.0)


def test_sphere_row_shares_one_pair_of_sliders(circle_context) -> None:
    protos = charts.from_lonlat(np.array([0.0, 120.0]), np.array([0.0, 0.0]))
    xs = charts.from_lonlat(np.array([10.0, 100.0]), np.array([0.0, 0.0]))
    one = charts.sphere_chart(xs, np.array([0, 1]), xs[0], 0, protos, with_params=False)
    s = spec(charts.sphere_row([one, one], 10.0, 0.0))
    assert len(s["hconcat"]) == 2
    assert sorted(p["name"] for p in s["params"]) == sorted([charts.ROT_LON, charts.ROT_LAT])


def test_cosine_strip_rows_per_prototype() -> None:
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(6, 5))
    xs /= np.linalg.norm(xs, axis=1, keepdims=True)
    protos = np.eye(5)[:3]
    s = spec(charts.cosine_strip(xs, np.array([0, 1, 2, 0, 1, 2]), xs[0], 0, protos, np.ones(6)))
    rows = dataset_rows(s)
    assert sum("jitter" in r for r in rows) == 6 * 3
    assert all(-1 <= r["cosine"] <= 1 for r in rows)


def test_prob_bars_stack_to_one() -> None:
    probs = {"a": np.array([0.7, 0.2, 0.1]), "b": np.array([0.1, 0.1, 0.8])}
    s = spec(charts.prob_bars(probs, 2))
    rows = dataset_rows(s)
    for model in probs:
        assert sum(r["p"] for r in rows if r["model"] == model) == pytest.approx(1.0)
    assert s["encoding"]["x"]["stack"] == "zero"
    assert s["encoding"]["x"]["scale"]["domain"] == [0, 1]
    assert "true class: 3" in json.dumps(s["title"])


def test_identity_scatter_has_y_equals_x_and_means() -> None:
    x, y = np.array([0.1, 0.5, 2.0]), np.array([0.2, 0.4, 1.0])
    s = spec(charts.identity_scatter(x, y, "model", "closed form", domain=(0.0, 3.0)))
    units = layers(s)
    rule = next(u for u in units if mark_type(u) == "rule")
    enc = rule["encoding"]
    assert enc["x"]["datum"] == enc["y"]["datum"] == 0.0 and enc["x2"]["datum"] == enc["y2"]["datum"] == 3.0
    assert enc["x"]["scale"]["domain"] == enc["y"]["scale"]["domain"] == [0.0, 3.0]
    pts = next(u for u in units if mark_type(u) == "circle")
    assert pts["encoding"]["x"]["scale"]["domain"] == pts["encoding"]["y"]["scale"]["domain"] == [0.0, 3.0]
    means = [r for r in dataset_rows(s) if r and "context" not in r]
    assert means == [{"model": pytest.approx(x.mean()), "closed_form": pytest.approx(y.mean())}]


def test_identity_scatter_default_domain_covers_both_axes() -> None:
    s = spec(charts.identity_scatter(np.array([0.0, 1.0]), np.array([0.5, 4.0]), "m", "c"))
    rule = next(u for u in layers(s) if mark_type(u) == "rule")
    lo, hi = rule["encoding"]["x"]["datum"], rule["encoding"]["x2"]["datum"]
    assert lo <= 0.0 and hi >= 4.0


EVALS = [{"step": s, "train_loss": 1.6 - s / 1000, "eval_loss": 1.6 - s / 900, "preds_diff": 0.5 - s / 2000,
          "cos_sim": s / 1000, "model_diff": 0.3, "preds_diff_plain": 0.6, "cos_sim_plain": 0.5,
          "model_diff_plain": 0.4, "c_sigma": s / 10, "c_eta": s / 100} for s in (0, 100, 200, 300)]


def test_loss_curve_marks_the_optimum() -> None:
    s = spec(charts.loss_curve(EVALS, 0.25, "eq. 1"))
    rules = [u for u in layers(s) if mark_type(u) == "rule"]
    assert rules and rules[0]["encoding"]["y"]["field"] == "value"
    assert any(r.get("value") == 0.25 for r in dataset_rows(s))
    assert {r["metric"] for r in dataset_rows(s) if "metric" in r} == {"train loss", "eval loss"}


def test_alignment_curves_three_panels_two_references() -> None:
    s = spec(charts.alignment_curves(EVALS, "eq. 1, self-key"))
    assert len(s["hconcat"]) == 3
    assert {r["metric"] for r in dataset_rows(s)} == {"eq. 1, self-key", "eq. 1 (plain)"}


def test_constants_curves_one_line_per_run() -> None:
    rows = [{"run": run, **e} for run in ("a", "b") for e in EVALS]
    s = spec(charts.constants_curves(rows))
    assert [p["title"] for p in s["hconcat"]] == ["c_sigma", "c_eta"]
    assert {r["run"] for r in dataset_rows(s)} == {"a", "b"}
    assert s["hconcat"][0]["encoding"]["y"]["scale"]["type"] == "symlog"


def test_matrix_heatmaps_slider_filters_snapshots() -> None:
    D = 4
    snaps = [{"step": st, "A": (np.eye(D) * (st + 1)).tolist(), "B": (-np.eye(D)).tolist()} for st in (0, 10, 20)]
    s = spec(charts.matrix_heatmaps(snaps, d=2))
    assert s["params"][0]["name"] == "snapshot" and s["params"][0]["bind"]["max"] == 2
    rows = [r for r in dataset_rows(s) if "idx" in r]
    assert len(rows) == 3 * 2 * D * D
    assert all(-1 <= r["scaled"] <= 1 for r in rows)
    assert "datum.idx == snapshot" in json.dumps(s)
    static = spec(charts.matrix_heatmaps(snaps[:1], d=2))
    assert "params" not in static


def test_extracted_check_log_factor_axis() -> None:
    rows = [{"which": w, "factor": f, "c_sigma": 1.0, "c_eta": 1.0, "preds_diff": abs(np.log(f))}
            for w in ("c_sigma", "c_eta") for f in (0.5, 1.0, 2.0)]
    s = spec(charts.extracted_check(rows))
    assert s["encoding"]["x"]["scale"]["type"] == "log"
    assert s["encoding"]["x"]["scale"]["domain"] == [0.5, 2.0]


def test_landscape_line_marks_best_and_refined() -> None:
    grid = np.logspace(0, 2, 20)
    s = spec(charts.landscape_line(grid, (np.log(grid) - 2) ** 2, "eta", 7.0, 7.4))
    units = layers(s)
    assert units[0]["encoding"]["x"]["scale"]["type"] == "log"
    assert {r["point"] for r in dataset_rows(s) if "point" in r} == {"grid optimum", "refined"}


def test_landscape_heatmap_log_axes_and_cells() -> None:
    xg, yg = np.logspace(0, 3, 10), np.logspace(-1, 2, 8)
    L = np.add.outer(np.log(xg) ** 2, np.log(yg) ** 2)
    best = {"c_sigma": float(xg[0]), "c_eta": float(yg[2])}
    s = spec(charts.landscape_heatmap(xg, yg, L, "c_sigma", "c_eta", best, best))
    heat = layers(s)[0]
    assert heat["encoding"]["x"]["scale"]["type"] == "log" and heat["encoding"]["y"]["scale"]["type"] == "log"
    cells = [r for r in dataset_rows(s) if "loss" in r]
    assert len(cells) == 10 * 8
    assert all(r["x0"] < r["c_sigma"] < r["x1"] and r["y0"] < r["c_eta"] < r["y1"] for r in cells)
    lo, hi = heat["encoding"]["x"]["scale"]["domain"]
    assert lo < xg[0] and hi > xg[-1]


def named_data(s: dict) -> set[str]:
    """Every dataset name a spec's units read."""
    out = set()
    for key in ("layer", "hconcat", "vconcat"):
        for sub in s.get(key, []):
            out |= named_data(sub)
    if isinstance(s.get("data"), dict) and "name" in s["data"]:
        out.add(s["data"]["name"])
    return out


@pytest.mark.parametrize("d", [2, 3, 5])
def test_templates_read_exactly_the_datasets_given(d: int) -> None:
    rng = np.random.default_rng(d)
    xs = rng.normal(size=(8, d))
    xs /= np.linalg.norm(xs, axis=1, keepdims=True)
    protos, ys, w = xs[:3], np.arange(8) % 3, rng.normal(size=8)
    if d == 2:
        tpl = charts.circle_template(3, ring=True, prefix="p1_")
        data = charts.circle_datasets(xs, ys, xs[0], 0, protos, w, (charts.circle_grid(12), np.arange(12) % 3), "p1_")
    elif d == 3:
        g = charts.sphere_grid(30.0)
        tpl = charts.sphere_template(3, cells=True, prefix="p1_")
        data = charts.sphere_datasets(xs, ys, xs[0], 0, protos, w, {**g, "class": np.zeros(len(g["lon"]), int)},
                                      "p1_")
    else:
        tpl = charts.cosine_template(3, prefix="p1_")
        data = charts.cosine_datasets(xs, ys, xs[0], 0, protos, w, "p1_")
    spec_tpl = charts.to_spec(tpl)
    assert named_data(spec_tpl) == set(data)  # every layer's data is given, and nothing else
    filled = charts.fill(spec_tpl, data, charts.rotation_values(30.0, -10.0) if d == 3 else None)
    assert "datasets" not in spec_tpl or not set(data) & set(spec_tpl["datasets"])  # the shared template is untouched
    assert set(data) <= set(filled["datasets"])
    if d == 3:
        values = {p["name"]: p["value"] for p in filled["params"]}
        assert values == {charts.ROT_LON: -30, charts.ROT_LAT: 10}
        assert {p["name"]: p["value"] for p in spec_tpl["params"]} == {charts.ROT_LON: 0, charts.ROT_LAT: 0}
    # the self-contained chart validates against the Vega-Lite schema with the same rows
    whole = charts.with_data(tpl, data).to_dict()
    assert {k: len(v) for k, v in whole["datasets"].items() if k in data} == {k: len(v) for k, v in data.items()}


def test_hconcat_lifts_datasets_to_the_top_level(circle_context) -> None:
    xs, ys, xq, yq, protos = circle_context
    parts = [charts.with_data(charts.circle_template(3, prefix=p), charts.circle_datasets(xs, ys, xq, yq, protos,
                                                                                          prefix=p))
             for p in ("a_", "b_")]
    s = spec(charts.hconcat(parts))
    assert all("datasets" not in sub for sub in s["hconcat"])
    assert named_data(s) <= set(s["datasets"])


def test_query_angle_round_trip() -> None:
    for deg in (0, 1, 90, 181, 359):
        xy = charts.from_angle(deg)
        assert xy.dtype == np.float32 and abs(float(np.linalg.norm(xy)) - 1) < 1e-6
        assert charts.angle_deg(xy) == deg
    assert charts.angle_deg(np.array([1.0, -1e-3])) == 0  # -0.06 degrees rounds to 0, not 360
