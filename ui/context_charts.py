"""Altair builders for the contexts: one context on the circle (d = 2), on the sphere (d = 3) or by its
cosines to the prototypes (d > 3), and the predicted class probabilities at the query.

Pure functions from numbers (numpy arrays, dicts) to `alt.Chart`; no Streamlit or JAX. Each context chart
comes as a template reading named datasets and a function giving those datasets (`ui.specs`), so a query
move only swaps data. Classes are shown 1-based ("class 1".."class C") with one colour scale everywhere,
so a class keeps its colour across charts and pages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from ui.geometry import lonlat
from ui.specs import _named, hconcat, with_data

ROT_LON, ROT_LAT = "view_lon", "view_lat"
QUERY_COLOR = "#111111"


# ---------------------------------------------------------------- shared pieces


def class_scale(C: int) -> alt.Scale:
    """One colour per class, the same in every chart."""
    return alt.Scale(domain=list(range(1, C + 1)), scheme="category10" if C <= 10 else "tableau20")


def _size(weights: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Marker area from attention weights: |w| relative to the largest, and the sign of w."""
    if weights is None:
        return np.full(n, 0.35), np.ones(n)
    w = np.asarray(weights, dtype=float)
    top = np.max(np.abs(w)) if np.all(np.isfinite(w)) and np.max(np.abs(w)) > 0 else 1.0
    return np.abs(w) / top, np.sign(w) + (w == 0)


def _points_frame(xs: np.ndarray, ys: np.ndarray, weights: np.ndarray | None) -> pd.DataFrame:
    rel, sign = _size(weights, len(ys))
    frame = pd.DataFrame({"i": np.arange(len(ys)), "class": np.asarray(ys, int) + 1, "rel_weight": rel,
                          "sign": np.where(sign >= 0, "attracts (w >= 0)", "repels (w < 0)")})
    frame["weight"] = np.nan if weights is None else np.asarray(weights, dtype=float)
    for k in range(xs.shape[1]):
        frame[f"x{k + 1}"] = xs[:, k]
    return frame


def point_encoding(C: int, sized: bool, max_size: float = 420, weight: str = "weight",
                   size_values: Sequence[float] | None = None) -> dict:
    """Context points (fields i, class, rel_weight, sign and the `weight` field): colour by class, area by
    |attention| relative to the largest when `sized`, a cross where the weight is negative. Every context chart
    and the in-browser query view draw their points with it. `size_values`: the size legend's entries."""
    legend = alt.Legend(values=list(size_values), format=".2~f") if size_values else alt.Undefined
    size = (alt.Size("rel_weight:Q", scale=alt.Scale(domain=[0, 1], range=[6, max_size]), title="attention |w| / max",
                     legend=legend) if sized else alt.value(70))
    return dict(
        color=alt.Color("class:N", scale=class_scale(C), title="class"),
        size=size,
        shape=alt.Shape("sign:N", scale=alt.Scale(domain=["attracts (w >= 0)", "repels (w < 0)"],
                                                   range=["circle", "cross"]), title="weight sign"),
        opacity=alt.value(0.85),
        tooltip=[alt.Tooltip("i:Q", title="point"), "class:N", alt.Tooltip(f"{weight}:Q", format=".4g",
                                                                             title="weight")],
    )


# ---------------------------------------------------------------- the circle (d = 2)


def circle_template(C: int, title: str = "", size: int = 380, ring: bool = False, sized: bool = True,
                    prefix: str = "") -> alt.LayerChart:
    """A context on the circle: points by class (area = attention when `sized`), prototypes as arrows from
    the origin, the query as a black diamond, and with `ring` the decision regions as an outer ring.
    Data by name (`circle_datasets`, same `prefix`)."""
    scale = alt.Scale(domain=[-1.3, 1.3], nice=False)
    x_enc = alt.X("x1:Q", scale=scale, axis=None)
    y_enc = alt.Y("x2:Q", scale=scale, axis=None)
    color = alt.Color("class:N", scale=class_scale(C), title="class")
    layers = [alt.Chart(_named(prefix, "outline")).mark_line(color="#bbbbbb", strokeWidth=1).encode(
        x_enc, y_enc, order="o:Q")]
    if ring:
        layers.append(alt.Chart(_named(prefix, "ring")).mark_rule(strokeWidth=4, opacity=0.8).encode(
            x_enc, y_enc, x2="e1:Q", y2="e2:Q", color=color,
            tooltip=[alt.Tooltip("angle_deg:Q", format=".0f", title="query angle"),
                     alt.Tooltip("class:N", title="predicted")]))
    protos = alt.Chart(_named(prefix, "protos"))
    layers += [
        protos.mark_rule(strokeWidth=2.5).encode(
            alt.X("o1:Q", scale=scale, axis=None), alt.Y("o2:Q", scale=scale, axis=None), x2="x1:Q", y2="x2:Q",
            color=color),
        protos.mark_point(shape="triangle-up", filled=True, size=140, opacity=1).encode(
            x_enc, y_enc, angle=alt.Angle("angle:Q", scale=None), color=color,
            tooltip=[alt.Tooltip("class:N", title="prototype of class")]),
        alt.Chart(_named(prefix, "points")).mark_point(filled=True).encode(x_enc, y_enc, **point_encoding(C, sized)),
        *query_marks(alt.Chart(_named(prefix, "query")), C, dict(x=x_enc, y=y_enc)),
    ]
    return alt.layer(*layers, title=title).properties(width=size, height=size)


def circle_datasets(xs: np.ndarray, ys: np.ndarray, xq: np.ndarray, yq: int, protos: np.ndarray,
                    weights: np.ndarray | None = None, ring: tuple[np.ndarray, np.ndarray] | None = None,
                    prefix: str = "") -> dict[str, pd.DataFrame]:
    """The data of `circle_template`; `ring` = (query angles, predicted class 0-based)."""
    C = protos.shape[0]
    t = np.linspace(0, 2 * np.pi, 181)
    theta = np.degrees(np.arctan2(protos[:, 1], protos[:, 0]))
    out = {
        "outline": pd.DataFrame({"x1": np.cos(t), "x2": np.sin(t), "o": np.arange(t.size)}),
        "protos": pd.DataFrame({"x1": protos[:, 0], "x2": protos[:, 1], "o1": 0.0, "o2": 0.0,
                                "class": np.arange(1, C + 1), "angle": np.mod(90 - theta, 360)}),
        "points": _points_frame(np.asarray(xs), np.asarray(ys), weights),
        "query": pd.DataFrame({"x1": [float(xq[0])], "x2": [float(xq[1])], "class": [int(yq) + 1]}),
    }
    if ring is not None:
        ang, cls = np.asarray(ring[0], float), np.asarray(ring[1], int)
        out["ring"] = pd.DataFrame({"x1": 1.1 * np.cos(ang), "x2": 1.1 * np.sin(ang), "e1": 1.24 * np.cos(ang),
                                    "e2": 1.24 * np.sin(ang), "class": cls + 1, "angle_deg": np.degrees(ang)})
    return {prefix + k: v for k, v in out.items()}


def circle_chart(xs: np.ndarray, ys: np.ndarray, xq: np.ndarray, yq: int, protos: np.ndarray,
                 weights: np.ndarray | None = None, ring: tuple[np.ndarray, np.ndarray] | None = None,
                 title: str = "", size: int = 380, prefix: str = "") -> alt.LayerChart:
    """`circle_template` with its data: one self-contained chart (`prefix` its datasets' names, for a chart
    concatenated beside another)."""
    return with_data(circle_template(protos.shape[0], title, size, ring is not None, weights is not None, prefix),
                     circle_datasets(xs, ys, xq, yq, protos, weights, ring, prefix))


def query_marks(base: alt.Chart, C: int, position: dict, field: str = "class") -> list[alt.Chart]:
    """The query: a black diamond ringed in its true class's colour (`field`), labelled. The ring has no legend,
    and Vega-Lite then draws no class legend for the points either: the pages' charts fit their columns without
    one; a view that wants it asks for it (`query_charts.with_class_legend`)."""
    diamond = base.mark_point(shape="diamond", filled=True, size=260, color=QUERY_COLOR, strokeWidth=2.5,
                              opacity=1).encode(
        **position, stroke=alt.Stroke(f"{field}:N", scale=class_scale(C), legend=None),
        tooltip=[alt.Tooltip(f"{field}:N", title="query (true class)")])
    label = base.mark_text(text="query", dy=-16, fontWeight="bold", color=QUERY_COLOR).encode(**position)
    return [diamond, label]


# ---------------------------------------------------------------- the sphere (d = 3)


def _cells_frame(lon: np.ndarray, lat: np.ndarray, cls: np.ndarray, step: float) -> pd.DataFrame:
    """Grid cells as plain rows (corners and class); `CELL_GEOJSON` turns each into a GeoJSON polygon in
    the browser, so the spec carries numbers, not thousands of nested GeoJSON objects (which Altair copies
    and validates one by one)."""
    h = step / 2
    return pd.DataFrame({"lon0": lon - h, "lon1": lon + h, "lat0": np.maximum(lat - h, -90.0),
                         "lat1": np.minimum(lat + h, 90.0), "class": np.asarray(cls, int) + 1})


# Clockwise ring (north, east, south, back west), as d3-geo wants for regions smaller than a hemisphere.
CELL_GEOJSON = ("{type: 'Feature', properties: {}, geometry: {type: 'Polygon', coordinates: [["
                 "[datum.lon0, datum.lat0], [datum.lon0, datum.lat1], [datum.lon1, datum.lat1], "
                 "[datum.lon1, datum.lat0], [datum.lon0, datum.lat0]]]}}")


def rotation_params(lon: float, lat: float) -> tuple[alt.Parameter, alt.Parameter]:
    """Slider-bound view rotation of the sphere; the view is centred on (lon, lat) at first."""
    values = rotation_values(lon, lat)
    rot_lon = alt.param(name=ROT_LON, value=values[ROT_LON],
                        bind=alt.binding_range(min=-180, max=180, step=1, name="rotate (longitude) "))
    rot_lat = alt.param(name=ROT_LAT, value=values[ROT_LAT],
                        bind=alt.binding_range(min=-90, max=90, step=1, name="rotate (latitude) "))
    return rot_lon, rot_lat


def visible() -> str:
    """Vega expression: the point (lon, lat) faces the viewer (dot product with the view centre > 0).

    Marks placed by longitude/latitude are not clipped by the projection, so the back hemisphere is
    filtered out here; GeoJSON shapes (cells, sphere, graticule) are clipped by the projection itself.
    """
    r = "PI / 180"
    return (f"sin(datum.lat * {r}) * sin(-{ROT_LAT} * {r}) + cos(datum.lat * {r}) * cos(-{ROT_LAT} * {r}) * "
            f"cos((datum.lon + {ROT_LON}) * {r}) > 0")


def sphere_template(C: int, title: str = "", size: int = 380, cells: bool = False, sized: bool = True,
                    with_params: bool = True, prefix: str = "") -> alt.LayerChart:
    """A context on the sphere S^2, orthographic view that the viewer rotates with two sliders; with
    `cells` the sphere is coloured by the predicted class. Data by name (`sphere_datasets`). With
    `with_params=False` the rotation parameters are left for `sphere_row` to attach once; their
    initial values (the view centre) are set by `fill(..., params=rotation_values(lon, lat))`."""
    proj = dict(type="orthographic", rotate=alt.expr(f"[{ROT_LON}, {ROT_LAT}, 0]"))
    pos = dict(longitude="lon:Q", latitude="lat:Q")
    color = alt.Color("class:N", scale=class_scale(C), title="class")
    layers = [alt.Chart(alt.sphere()).mark_geoshape(fill="#f3f5f9", stroke="#999999").project(**proj)]
    if cells:
        layers.append(alt.Chart(_named(prefix, "cells")).transform_calculate(cell=CELL_GEOJSON).mark_geoshape(
            opacity=0.42, strokeWidth=0).encode(
            shape=alt.Shape("cell:N", type="geojson"), color=color,
            tooltip=[alt.Tooltip("class:N", title="predicted")]).project(**proj))
    layers += [
        alt.Chart(alt.graticule(step=[30, 30])).mark_geoshape(fill=None, stroke="#c8c8c8", strokeWidth=0.6)
        .project(**proj),
        alt.Chart(_named(prefix, "protos")).mark_point(shape="triangle-up", filled=True, size=230, stroke="black",
                                                       strokeWidth=1, opacity=1).encode(
            **pos, color=color, tooltip=[alt.Tooltip("class:N", title="prototype of class")])
        .transform_filter(visible()).project(**proj),
        alt.Chart(_named(prefix, "points")).mark_point(filled=True, stroke="white", strokeWidth=0.6)
        .encode(**pos, **point_encoding(C, sized)).transform_filter(visible()).project(**proj),
        *[m.transform_filter(visible()).project(**proj)
          for m in query_marks(alt.Chart(_named(prefix, "query")), C, pos)],
    ]
    chart = alt.layer(*layers, title=title).properties(width=size, height=size)
    return chart.add_params(*rotation_params(0.0, 0.0)) if with_params else chart


def sphere_datasets(xs: np.ndarray, ys: np.ndarray, xq: np.ndarray, yq: int, protos: np.ndarray,
                    weights: np.ndarray | None = None, cells: Mapping[str, np.ndarray] | None = None,
                    prefix: str = "") -> dict[str, pd.DataFrame]:
    """The data of `sphere_template`; `cells` = {"lon", "lat", "class" (0-based), "step"}."""
    C = protos.shape[0]
    p_lon, p_lat = lonlat(protos)
    pts = _points_frame(np.asarray(xs), np.asarray(ys), weights)
    pts["lon"], pts["lat"] = lonlat(np.asarray(xs))
    q_lon, q_lat = lonlat(np.asarray(xq))
    out = {"protos": pd.DataFrame({"lon": p_lon, "lat": p_lat, "class": np.arange(1, C + 1)}), "points": pts,
           "query": pd.DataFrame({"lon": [float(q_lon)], "lat": [float(q_lat)], "class": [int(yq) + 1]})}
    if cells is not None:
        out["cells"] = _cells_frame(cells["lon"], cells["lat"], cells["class"], float(cells["step"]))
    return {prefix + k: v for k, v in out.items()}


def rotation_values(lon: float, lat: float) -> dict[str, int]:
    """Initial values of the rotation parameters that centre the view on (lon, lat)."""
    return {ROT_LON: round(-float(lon)), ROT_LAT: round(-float(lat))}


def sphere_chart(xs: np.ndarray, ys: np.ndarray, xq: np.ndarray, yq: int, protos: np.ndarray,
                 weights: np.ndarray | None = None, cells: Mapping[str, np.ndarray] | None = None,
                 title: str = "", size: int = 380, with_params: bool = True, prefix: str = "") -> alt.LayerChart:
    """`sphere_template` with its data, centred on the query: one self-contained chart (`prefix` as for
    `circle_chart`)."""
    chart = with_data(sphere_template(protos.shape[0], title, size, cells is not None, weights is not None, False,
                                      prefix), sphere_datasets(xs, ys, xq, yq, protos, weights, cells, prefix))
    return chart.add_params(*rotation_params(*lonlat(np.asarray(xq)))) if with_params else chart


def sphere_row(charts: Sequence[alt.LayerChart], lon: float, lat: float) -> alt.HConcatChart:
    """Several spheres side by side, turned together by one pair of sliders."""
    return hconcat(charts).add_params(*rotation_params(lon, lat))


# ---------------------------------------------------------------- cosines to the prototypes (d > 3)


def cosine_template(C: int, title: str = "", width: int = 420, sized: bool = True, prefix: str = "") -> alt.LayerChart:
    """For d > 3: one row per prototype z_j, each context point at its cosine z_j . x_i (colour = class,
    area = attention), the query as a black diamond. A point sits far right in its own class's row.
    Data by name (`cosine_datasets`)."""
    y = alt.Y("prototype:O", title="prototype z_j")
    x = alt.X("cosine:Q", scale=alt.Scale(domain=[-1, 1]), title="cosine z_j . x")
    points = alt.Chart(_named(prefix, "points")).mark_point(filled=True).encode(
        x, y, yOffset=alt.YOffset("jitter:Q", scale=alt.Scale(domain=[-0.6, 0.6])),
        **point_encoding(C, sized, max_size=160))
    query = alt.Chart(_named(prefix, "query")).mark_point(shape="diamond", filled=True, size=300, color=QUERY_COLOR,
                                                          opacity=1, stroke="white", strokeWidth=1.5).encode(
        x, y, tooltip=[alt.Tooltip("cosine:Q", format=".3f", title="query cosine")])
    return alt.layer(points, query, title=title).properties(width=width, height=40 * C + 40).configure_legend(
        orient="bottom", direction="vertical")  # under the plot, side by side: the chart keeps to its column


def cosine_datasets(xs: np.ndarray, ys: np.ndarray, xq: np.ndarray, yq: int, protos: np.ndarray,
                    weights: np.ndarray | None = None, prefix: str = "") -> dict[str, pd.DataFrame]:
    """The data of `cosine_template`."""
    xs, protos = np.asarray(xs), np.asarray(protos)
    C, n = protos.shape[0], xs.shape[0]
    cos = xs @ protos.T  # (n, C)
    rel, sign = _size(weights, n)
    jitter = (np.arange(n) * 0.618034) % 1.0 - 0.5
    points = pd.DataFrame({
        "i": np.repeat(np.arange(n), C), "class": np.repeat(np.asarray(ys, int) + 1, C),
        "prototype": np.tile(np.arange(1, C + 1), n), "cosine": cos.ravel(), "jitter": np.repeat(jitter, C),
        "rel_weight": np.repeat(rel, C), "weight": np.repeat(np.nan if weights is None else weights, C),
        "sign": np.repeat(np.where(sign >= 0, "attracts (w >= 0)", "repels (w < 0)"), C)})
    query = pd.DataFrame({"cosine": protos @ np.asarray(xq), "prototype": np.arange(1, C + 1), "class": int(yq) + 1})
    return {prefix + "points": points, prefix + "query": query}


def cosine_strip(xs: np.ndarray, ys: np.ndarray, xq: np.ndarray, yq: int, protos: np.ndarray,
                 weights: np.ndarray | None = None, title: str = "", width: int = 420) -> alt.LayerChart:
    """`cosine_template` with its data: one self-contained chart."""
    return with_data(cosine_template(protos.shape[0], title, width, weights is not None),
                     cosine_datasets(xs, ys, xq, yq, protos, weights))


# ---------------------------------------------------------------- predictions


def prob_bars(probs: Mapping[str, np.ndarray], yq: int, width: int = 360) -> alt.Chart:
    """Predicted class probabilities of each model as a stacked bar (each sums to one); P(true class)
    is in the tooltip and the title of each row."""
    rows = []
    for model, p in probs.items():
        p = np.asarray(p, float)
        for j, pj in enumerate(p):
            rows.append({"model": model, "class": j + 1, "p": float(pj), "true": j == int(yq)})
    frame = pd.DataFrame(rows)
    C = int(frame["class"].max())
    return alt.Chart(frame, title=f"predicted probabilities (true class: {int(yq) + 1})").mark_bar(
        stroke="white", strokeWidth=0.5).encode(
        x=alt.X("p:Q", stack="zero", scale=alt.Scale(domain=[0, 1]), title="probability"),
        y=alt.Y("model:N", sort=list(probs), title=None),
        color=alt.Color("class:N", scale=class_scale(C), title="class"),
        order=alt.Order("class:Q"),
        tooltip=["model:N", "class:N", alt.Tooltip("p:Q", format=".4f"), "true:N"],
    ).properties(width=width, height=34 * len(probs))
