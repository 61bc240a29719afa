"""Altair chart builders: pure functions from numbers (numpy arrays, lists, dicts) to `alt.Chart`.

They know nothing of Streamlit or JAX, so they are unit-tested through `.to_dict()` and the same
builders serve the app and any saved figure. Classes are shown 1-based ("class 1".."class C") with one
colour scale everywhere, so a class keeps its colour across charts and pages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

# Snapshots of A and B through training and 100 x 100 landscapes exceed Altair's default 5,000-row guard.
alt.data_transformers.disable_max_rows()

ROT_LON, ROT_LAT = "view_lon", "view_lat"
QUERY_COLOR = "#111111"
ALIGN_FIELDS = {"preds_diff": "preds diff", "cos_sim": "cos sim", "model_diff": "model diff"}


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


def _point_encoding(C: int, sized: bool, max_size: float = 420) -> dict:
    size = (alt.Size("rel_weight:Q", scale=alt.Scale(domain=[0, 1], range=[6, max_size]), title="attention |w| / max")
            if sized else alt.value(70))
    return dict(
        color=alt.Color("class:N", scale=class_scale(C), title="class"),
        size=size,
        shape=alt.Shape("sign:N", scale=alt.Scale(domain=["attracts (w >= 0)", "repels (w < 0)"],
                                                   range=["circle", "cross"]), title="weight sign"),
        opacity=alt.value(0.85),
        tooltip=[alt.Tooltip("i:Q", title="point"), "class:N", alt.Tooltip("weight:Q", format=".4g")],
    )


# ---------------------------------------------------------------- templates: structure built once, data by name
#
# Building and serialising an Altair chart costs tens of milliseconds per layer; the numbers behind a
# context chart cost microseconds. So each context chart comes in two halves: a *template* whose layers
# read named datasets (it depends on a few structural arguments only, so the app builds it once per
# structure), and a function giving its datasets. `fill` joins a serialised template and its data
# without Altair; `with_data` makes a self-contained Altair chart of the two (tests, saved figures).


def to_spec(chart: alt.TopLevelMixin) -> dict:
    """The Vega-Lite spec without Altair's schema validation (the builders are validated in tests),
    sized as built ("pad"): Streamlit's default "fit" would squeeze legends and titles into the size."""
    spec = chart.to_dict(validate=False)
    spec.setdefault("autosize", {"type": "pad", "contains": "padding"})
    return spec


def fill(spec: dict, datasets: Mapping[str, object], params: Mapping[str, float] | None = None) -> dict:
    """A shallow copy of a serialised template with its named datasets and the initial values of its
    bound parameters set; the template itself is left untouched (it is shared between reruns)."""
    out = {**spec, "datasets": {**spec.get("datasets", {}), **datasets}}
    if params:
        out["params"] = [{**p, "value": params[p["name"]]} if p.get("name") in params else p
                         for p in spec.get("params", [])]
    return out


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows (NaN -> null)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def with_data(template: alt.TopLevelMixin, datasets: Mapping[str, pd.DataFrame]) -> alt.TopLevelMixin:
    """The template with its datasets inlined: one self-contained chart."""
    return template.properties(datasets={k: _records(v) for k, v in datasets.items()})


def _named(prefix: str, name: str) -> alt.NamedData:
    return alt.NamedData(name=f"{prefix}{name}")


# ---------------------------------------------------------------- contexts: the circle (d = 2)


def circle_grid(count: int = 360) -> np.ndarray:
    """Query angles (radians) at which decision regions on the circle are evaluated."""
    return np.linspace(0.0, 2 * np.pi, count, endpoint=False)


def angle_deg(xy: np.ndarray) -> int:
    """The whole-degree angle (0-359) of a point on the circle: the query slider's value."""
    return int(round(float(np.degrees(np.arctan2(xy[1], xy[0]))))) % 360


def from_angle(deg: float) -> np.ndarray:
    """The point of the circle at `deg` degrees (float32, as the models take it)."""
    return np.array([np.cos(np.radians(deg)), np.sin(np.radians(deg))], np.float32)


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
        alt.Chart(_named(prefix, "points")).mark_point(filled=True).encode(x_enc, y_enc, **_point_encoding(C, sized)),
        *_query_marks(alt.Chart(_named(prefix, "query")), C, dict(x=x_enc, y=y_enc)),
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
                 title: str = "", size: int = 380) -> alt.LayerChart:
    """`circle_template` with its data: one self-contained chart."""
    return with_data(circle_template(protos.shape[0], title, size, ring is not None, weights is not None),
                     circle_datasets(xs, ys, xq, yq, protos, weights, ring))


def _query_marks(base: alt.Chart, C: int, position: dict) -> list[alt.Chart]:
    """The query: a black diamond ringed in its true class's colour, labelled."""
    diamond = base.mark_point(shape="diamond", filled=True, size=260, color=QUERY_COLOR, strokeWidth=2.5,
                              opacity=1).encode(
        **position, stroke=alt.Stroke("class:N", scale=class_scale(C), legend=None),
        tooltip=[alt.Tooltip("class:N", title="query (true class)")])
    label = base.mark_text(text="query", dy=-16, fontWeight="bold", color=QUERY_COLOR).encode(**position)
    return [diamond, label]


# ---------------------------------------------------------------- contexts: the sphere (d = 3)


def lonlat(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude in degrees of unit vectors (..., 3)."""
    xyz = np.asarray(xyz, float)
    lon = np.degrees(np.arctan2(xyz[..., 1], xyz[..., 0]))
    lat = np.degrees(np.arcsin(np.clip(xyz[..., 2], -1, 1)))
    return lon, lat


def from_lonlat(lon_deg: np.ndarray | float, lat_deg: np.ndarray | float) -> np.ndarray:
    """Unit vectors (..., 3) from longitude and latitude in degrees."""
    lon, lat = np.radians(lon_deg), np.radians(lat_deg)
    return np.stack(np.broadcast_arrays(np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)), -1)


def sphere_grid(step_deg: float = 6.0) -> dict[str, np.ndarray]:
    """Cell centres of a lon/lat grid (for decision regions on the sphere): lon, lat, xyz, step."""
    lon_c = np.arange(-180 + step_deg / 2, 180, step_deg)
    lat_c = np.arange(-90 + step_deg / 2, 90, step_deg)
    lon, lat = (a.ravel() for a in np.meshgrid(lon_c, lat_c))
    return {"lon": lon, "lat": lat, "xyz": from_lonlat(lon, lat), "step": np.asarray(step_deg)}


def _cells_frame(lon: np.ndarray, lat: np.ndarray, cls: np.ndarray, step: float) -> pd.DataFrame:
    """Grid cells as plain rows (corners and class); `_CELL_GEOJSON` turns each into a GeoJSON polygon in
    the browser, so the spec carries numbers, not thousands of nested GeoJSON objects (which Altair copies
    and validates one by one)."""
    h = step / 2
    return pd.DataFrame({"lon0": lon - h, "lon1": lon + h, "lat0": np.maximum(lat - h, -90.0),
                         "lat1": np.minimum(lat + h, 90.0), "class": np.asarray(cls, int) + 1})


# Clockwise ring (north, east, south, back west), as d3-geo wants for regions smaller than a hemisphere.
_CELL_GEOJSON = ("{type: 'Feature', properties: {}, geometry: {type: 'Polygon', coordinates: [["
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


def _visible() -> str:
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
        layers.append(alt.Chart(_named(prefix, "cells")).transform_calculate(cell=_CELL_GEOJSON).mark_geoshape(
            opacity=0.42, strokeWidth=0).encode(
            shape=alt.Shape("cell:N", type="geojson"), color=color,
            tooltip=[alt.Tooltip("class:N", title="predicted")]).project(**proj))
    layers += [
        alt.Chart(alt.graticule(step=[30, 30])).mark_geoshape(fill=None, stroke="#c8c8c8", strokeWidth=0.6)
        .project(**proj),
        alt.Chart(_named(prefix, "protos")).mark_point(shape="triangle-up", filled=True, size=230, stroke="black",
                                                       strokeWidth=1, opacity=1).encode(
            **pos, color=color, tooltip=[alt.Tooltip("class:N", title="prototype of class")])
        .transform_filter(_visible()).project(**proj),
        alt.Chart(_named(prefix, "points")).mark_point(filled=True, stroke="white", strokeWidth=0.6)
        .encode(**pos, **_point_encoding(C, sized)).transform_filter(_visible()).project(**proj),
        *[m.transform_filter(_visible()).project(**proj)
          for m in _query_marks(alt.Chart(_named(prefix, "query")), C, pos)],
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
                 title: str = "", size: int = 380, with_params: bool = True) -> alt.LayerChart:
    """`sphere_template` with its data, centred on the query: one self-contained chart."""
    chart = with_data(sphere_template(protos.shape[0], title, size, cells is not None, weights is not None, False),
                      sphere_datasets(xs, ys, xq, yq, protos, weights, cells))
    return chart.add_params(*rotation_params(*lonlat(np.asarray(xq)))) if with_params else chart


def hconcat(charts: Sequence[alt.LayerChart]) -> alt.HConcatChart:
    """Charts side by side; datasets inlined in the parts (`with_data`) move to the top level, the only
    place Vega-Lite reads them (parts drawing different data must use different dataset prefixes)."""
    datasets, parts = {}, []
    for chart in charts:
        if isinstance(chart.datasets, dict):
            datasets.update(chart.datasets)
            chart = chart.copy(deep=False)
            chart.datasets = alt.Undefined
        parts.append(chart)
    row = alt.hconcat(*parts)
    return row.properties(datasets=datasets) if datasets else row


def sphere_row(charts: Sequence[alt.LayerChart], lon: float, lat: float) -> alt.HConcatChart:
    """Several spheres side by side, turned together by one pair of sliders."""
    return hconcat(charts).add_params(*rotation_params(lon, lat))


# ---------------------------------------------------------------- contexts: d > 3


def cosine_template(C: int, title: str = "", width: int = 420, sized: bool = True, prefix: str = "") -> alt.LayerChart:
    """For d > 3: one row per prototype z_j, each context point at its cosine z_j . x_i (colour = class,
    area = attention), the query as a black diamond. A point sits far right in its own class's row.
    Data by name (`cosine_datasets`)."""
    y = alt.Y("prototype:O", title="prototype z_j")
    x = alt.X("cosine:Q", scale=alt.Scale(domain=[-1, 1]), title="cosine z_j . x")
    points = alt.Chart(_named(prefix, "points")).mark_point(filled=True).encode(
        x, y, yOffset=alt.YOffset("jitter:Q", scale=alt.Scale(domain=[-0.6, 0.6])),
        **_point_encoding(C, sized, max_size=160))
    query = alt.Chart(_named(prefix, "query")).mark_point(shape="diamond", filled=True, size=300, color=QUERY_COLOR,
                                                          opacity=1, stroke="white", strokeWidth=1.5).encode(
        x, y, tooltip=[alt.Tooltip("cosine:Q", format=".3f", title="query cosine")])
    return alt.layer(points, query, title=title).properties(width=width, height=40 * C + 40)


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


# ---------------------------------------------------------------- model (x) vs closed form (y)


def identity_scatter(x: np.ndarray, y: np.ndarray, x_title: str, y_title: str, title: str = "",
                     domain: tuple[float, float] | None = None, size: int = 300) -> alt.LayerChart:
    """Per-context scatter, model on x and closed form on y, with the line y = x and the means (a red cross).

    Both axes share one fixed domain so that y = x is the diagonal of the square."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if domain is None:
        both = np.concatenate([x[np.isfinite(x)], y[np.isfinite(y)]]) if x.size else np.zeros(1)
        lo, hi = float(np.min(both, initial=0.0)), float(np.max(both, initial=1.0))
        pad = 0.03 * (hi - lo or 1.0)
        domain = (min(lo - pad, 0.0) if lo >= 0 else lo - pad, hi + pad)
    lo, hi = float(domain[0]), float(domain[1])
    sx = alt.Scale(domain=[lo, hi], nice=False, clamp=True)
    frame = pd.DataFrame({"model": x, "closed_form": y, "context": np.arange(x.size)})
    pts = alt.Chart(frame).mark_circle(size=18, opacity=0.45, color="#4c78a8").encode(
        x=alt.X("model:Q", scale=sx, title=x_title), y=alt.Y("closed_form:Q", scale=sx, title=y_title),
        tooltip=["context:Q", alt.Tooltip("model:Q", format=".4g"), alt.Tooltip("closed_form:Q", format=".4g")])
    diag = alt.Chart().mark_rule(color="#888888", strokeDash=[4, 3]).encode(
        x=alt.datum(lo, scale=sx), y=alt.datum(lo, scale=sx), x2=alt.datum(hi), y2=alt.datum(hi))
    means = pd.DataFrame({"model": [float(np.nanmean(x)) if x.size else 0.0],
                          "closed_form": [float(np.nanmean(y)) if y.size else 0.0]})
    mean = alt.Chart(means).mark_point(shape="cross", size=260, filled=True, color="#d62728", opacity=1).encode(
        x=alt.X("model:Q", scale=sx), y=alt.Y("closed_form:Q", scale=sx),
        tooltip=[alt.Tooltip("model:Q", format=".4f", title="mean (model)"),
                 alt.Tooltip("closed_form:Q", format=".4f", title="mean (closed form)")])
    return alt.layer(pts, diag, mean, title=title).properties(width=size, height=size)


# ---------------------------------------------------------------- training curves


def _long(rows: Sequence[Mapping], fields: Sequence[str], labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    out = []
    for r in rows:
        for f in fields:
            v = r.get(f)
            if v is not None and np.isfinite(v):
                out.append({"step": r["step"], "metric": (labels or {}).get(f, f), "value": float(v),
                            "run": r.get("run", "")})
    return pd.DataFrame(out, columns=["step", "metric", "value", "run"])


def loss_curve(evals: Sequence[Mapping], optimum: float | None = None, optimum_label: str = "closed form",
               width: int = 420, height: int = 260) -> alt.LayerChart:
    """Train and eval loss through training, with the fitted closed form's loss as a horizontal rule."""
    frame = _long(evals, ["train_loss", "eval_loss"], {"train_loss": "train loss", "eval_loss": "eval loss"})
    lines = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=12)).encode(
        x=alt.X("step:Q"), y=alt.Y("value:Q", title="cross-entropy", scale=alt.Scale(zero=False)),
        color=alt.Color("metric:N", title=None, scale=alt.Scale(domain=["eval loss", "train loss"],
                                                                 range=["#1f77b4", "#aec7e8"])),
        tooltip=["step:Q", "metric:N", alt.Tooltip("value:Q", format=".5f")])
    layers = [lines]
    if optimum is not None and np.isfinite(optimum):
        opt = pd.DataFrame({"value": [float(optimum)], "label": [f"{optimum_label}: {optimum:.4f}"]})
        layers.append(alt.Chart(opt).mark_rule(color="#d62728", strokeDash=[6, 3], strokeWidth=2).encode(
            y="value:Q", tooltip=["label:N"]))
        layers.append(alt.Chart(opt).mark_text(align="right", dy=-7, color="#d62728", x="width").encode(
            y="value:Q", text="label:N"))
    return alt.layer(*layers, title="loss").properties(width=width, height=height)


def alignment_curves(evals: Sequence[Mapping], yardstick_label: str, plain_label: str = "eq. 1 (plain)",
                     width: int = 230, height: int = 200) -> alt.HConcatChart:
    """Preds diff, cos sim and model diff through training (SPEC Fig. 2), against the yardstick closed form
    and, for softmax runs, against plain eq. 1 too."""
    panels = []
    for field, label in ALIGN_FIELDS.items():
        frame = _long(evals, [field, field + "_plain"], {field: yardstick_label, field + "_plain": plain_label})
        panels.append(alt.Chart(frame, title=label).mark_line().encode(
            x=alt.X("step:Q"), y=alt.Y("value:Q", title=label, scale=alt.Scale(zero=field != "cos_sim")),
            color=alt.Color("metric:N", title="against", scale=alt.Scale(domain=[yardstick_label, plain_label],
                                                                          range=["#1f77b4", "#ff7f0e"])),
            tooltip=["step:Q", "metric:N", alt.Tooltip("value:Q", format=".4g")],
        ).properties(width=width, height=height))
    return alt.hconcat(*panels)


def constants_curves(rows: Sequence[Mapping], width: int = 330, height: int = 240,
                     legend: bool = True) -> alt.HConcatChart:
    """c_sigma and c_eta through training, one line per run (rows carry `run`, `step`, `c_sigma`, `c_eta`).

    A symmetric-log axis keeps d = 2's hundreds and d = 10's tenths readable together, signs included
    (elimination runs go negative)."""
    panels = []
    for field, label in (("c_sigma", "c_sigma"), ("c_eta", "c_eta")):
        frame = _long(rows, [field])
        panels.append(alt.Chart(frame, title=label).mark_line().encode(
            x=alt.X("step:Q"), y=alt.Y("value:Q", title=label, scale=alt.Scale(type="symlog")),
            color=alt.Color("run:N", title="run", scale=alt.Scale(scheme="category10"),
                            legend=alt.Legend(labelLimit=320, orient="bottom", columns=1) if legend else None),
            tooltip=["run:N", "step:Q", alt.Tooltip("value:Q", format=".4g")],
        ).properties(width=width, height=height))
    return alt.hconcat(*panels)


# ---------------------------------------------------------------- weights


def snapshot_frame(snapshots: Sequence[Mapping]) -> pd.DataFrame:
    """Long form (idx, step, matrix, row, col, value, scaled): `scaled` = value / max |entry| of that matrix
    at that step, so the block pattern shows while the weights grow by orders of magnitude."""
    rows = []
    for idx, snap in enumerate(snapshots):
        for name in ("A", "B"):
            m = np.asarray(snap[name], float)
            top = float(np.max(np.abs(m))) or 1.0
            r, c = np.indices(m.shape)
            rows.append(pd.DataFrame({"idx": idx, "step": int(snap["step"]), "matrix": name, "row": r.ravel(),
                                      "col": c.ravel(), "value": m.ravel(), "scaled": m.ravel() / top,
                                      "max_abs": top}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["idx", "step", "matrix", "row", "col", "value", "scaled", "max_abs"])


def matrix_heatmaps(snapshots: Sequence[Mapping], d: int, title: str = "", param_name: str = "snapshot",
                    cell: int = 18) -> alt.HConcatChart:
    """A and B side by side, one cell per entry, red/blue by sign; with more than one snapshot a slider
    (client-side, no rerun) picks the training step. Lines separate the x-block (first d) from the y-block."""
    frame = snapshot_frame(snapshots)
    D = int(frame["row"].max()) + 1 if len(frame) else d
    param = None
    if len(snapshots) > 1:
        param = alt.param(name=param_name, value=len(snapshots) - 1,
                          bind=alt.binding_range(min=0, max=len(snapshots) - 1, step=1,
                                                 name="training snapshot (0 = init) "))
    panels = []
    for name, label in (("A", "A = W_Q^T W_K"), ("B", "B = W_V^T W_O^T")):
        base = alt.Chart(frame).transform_filter(alt.datum.matrix == name)
        if param is not None:
            base = base.transform_filter(f"datum.idx == {param_name}")
        heat = base.mark_rect().encode(
            x=alt.X("col:O", title=None, axis=alt.Axis(labels=D <= 20)),
            y=alt.Y("row:O", title=None, axis=alt.Axis(labels=D <= 20)),
            color=alt.Color("scaled:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True),
                            title="entry / max |entry|"),
            tooltip=["step:Q", "row:O", "col:O", alt.Tooltip("value:Q", format=".4g")])
        edge = pd.DataFrame({"pos": [d - 0.5]})
        sep_x = alt.Chart(edge).mark_rule(color="#333333", strokeDash=[3, 2]).encode(
            x=alt.X("pos:Q", scale=alt.Scale(domain=[-0.5, D - 0.5], nice=False), axis=None))
        sep_y = alt.Chart(edge).mark_rule(color="#333333", strokeDash=[3, 2]).encode(
            y=alt.Y("pos:Q", scale=alt.Scale(domain=[D - 0.5, -0.5], nice=False), axis=None))
        caption = base.transform_aggregate(step="max(step)", max_abs="max(max_abs)").transform_calculate(
            text=f"'{label}: step ' + datum.step + ', max |entry| ' + format(datum.max_abs, '.3g')"
        ).mark_text(align="left", baseline="bottom", x=0, y=-6, fontSize=12).encode(text="text:N")
        panels.append(alt.layer(heat, sep_x, sep_y, caption).resolve_scale(x="independent", y="independent")
                      .properties(width=cell * D, height=cell * D))
    chart = alt.hconcat(*panels, title=title)
    return chart.add_params(param) if param is not None else chart


# ---------------------------------------------------------------- Fig. 8: the extracted constants, checked


def extracted_check(rows: Sequence[Mapping], width: int = 420, height: int = 240) -> alt.Chart:
    """Preds diff between the trained model and eq. 1 at the extracted constants times a factor (x, log),
    one line per constant moved; the minimum should sit at factor 1."""
    frame = pd.DataFrame(rows)
    return alt.Chart(frame, title="trained model vs eq. 1 at the extracted constants, moved off").mark_line(
        point=True).encode(
        x=alt.X("factor:Q", scale=alt.Scale(type="log", domain=[float(frame["factor"].min()),
                                                                float(frame["factor"].max())], nice=False),
                title="factor on the extracted value"),
        y=alt.Y("preds_diff:Q", title="preds diff"),
        color=alt.Color("which:N", title="constant moved", scale=alt.Scale(domain=["c_sigma", "c_eta"],
                                                                            range=["#1f77b4", "#d62728"])),
        tooltip=["which:N", alt.Tooltip("factor:Q", format=".3g"), alt.Tooltip("c_sigma:Q", format=".4g"),
                 alt.Tooltip("c_eta:Q", format=".4g"), alt.Tooltip("preds_diff:Q", format=".4g")],
    ).properties(width=width, height=height)


# ---------------------------------------------------------------- loss landscapes


def _edges(grid: np.ndarray) -> np.ndarray:
    """Cell edges of a log-spaced grid: geometric midpoints, extended half a step at each end."""
    g = np.log10(np.asarray(grid, float))
    mid = (g[1:] + g[:-1]) / 2
    first, last = g[0] - (mid[0] - g[0]), g[-1] + (g[-1] - mid[-1])
    return 10 ** np.concatenate([[first], mid, [last]])


def _overlap(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Upper cell edges pushed a quarter cell on (log scale), so antialiased seams do not draw a mesh."""
    return lo * (hi / lo) ** 1.25


def landscape_line(grid: np.ndarray, losses: np.ndarray, name: str, best: float, refined: float | None = None,
                   width: int = 520, height: int = 280) -> alt.LayerChart:
    """Mean cross-entropy over a log-spaced 1-D grid, with the grid optimum and the refined point."""
    frame = pd.DataFrame({name: np.asarray(grid, float), "loss": np.asarray(losses, float)})
    x = alt.X(f"{name}:Q", scale=alt.Scale(type="log"), title=name)
    line = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=10)).encode(
        x, y=alt.Y("loss:Q", title="mean cross-entropy", scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip(f"{name}:Q", format=".4g"), alt.Tooltip("loss:Q", format=".5f")])
    marks = [{"point": "grid optimum", name: float(best)}]
    if refined is not None:
        marks.append({"point": "refined", name: float(refined)})
    rules = alt.Chart(pd.DataFrame(marks)).mark_rule(strokeWidth=2, strokeDash=[5, 3]).encode(
        x, color=alt.Color("point:N", scale=alt.Scale(domain=["grid optimum", "refined"],
                                                      range=["#ff7f0e", "#d62728"]), title=None),
        tooltip=["point:N", alt.Tooltip(f"{name}:Q", format=".5g")])
    return alt.layer(line, rules).properties(width=width, height=height)


def landscape_heatmap(x_grid: np.ndarray, y_grid: np.ndarray, losses: np.ndarray, x_name: str, y_name: str,
                      best: Mapping[str, float], refined: Mapping[str, float] | None = None,
                      size: int = 440) -> alt.LayerChart:
    """Mean cross-entropy on a log x log grid (`losses[i, j]` at x_grid[i], y_grid[j]), brighter = lower,
    the colour clamped to the better half so the valley stands out; the grid optimum and the refined point."""
    L = np.asarray(losses, float)
    xe, ye = _edges(x_grid), _edges(y_grid)
    i, j = np.indices(L.shape)
    frame = pd.DataFrame({x_name: np.asarray(x_grid)[i.ravel()], y_name: np.asarray(y_grid)[j.ravel()],
                          "x0": xe[i.ravel()], "x1": _overlap(xe[i.ravel()], xe[i.ravel() + 1]),
                          "y0": ye[j.ravel()], "y1": _overlap(ye[j.ravel()], ye[j.ravel() + 1]),
                          "loss": L.ravel()})
    finite = L[np.isfinite(L)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(np.quantile(finite, 0.5)) if finite.size else 1.0
    hi = hi if hi > lo else lo + 1e-6
    xs = alt.Scale(type="log", domain=[float(xe[0]), float(xe[-1])], nice=False)
    ys = alt.Scale(type="log", domain=[float(ye[0]), float(ye[-1])], nice=False)
    heat = alt.Chart(frame).mark_rect(clip=True).encode(
        x=alt.X("x0:Q", scale=xs, title=x_name, axis=alt.Axis(grid=False)), x2="x1:Q",
        y=alt.Y("y0:Q", scale=ys, title=y_name, axis=alt.Axis(grid=False)), y2="y1:Q",
        color=alt.Color("loss:Q", scale=alt.Scale(scheme="viridis", domain=[lo, hi], clamp=True, reverse=True),
                        title="cross-entropy"),
        tooltip=[alt.Tooltip(f"{x_name}:Q", format=".4g"), alt.Tooltip(f"{y_name}:Q", format=".4g"),
                 alt.Tooltip("loss:Q", format=".5f")])
    marks = [{"point": "grid optimum", "x": float(best[x_name]), "y": float(best[y_name])}]
    if refined is not None:
        marks.append({"point": "refined", "x": float(refined[x_name]), "y": float(refined[y_name])})
    pts = alt.Chart(pd.DataFrame(marks)).mark_point(size=240, strokeWidth=3, filled=False, color="#d62728").encode(
        x=alt.X("x:Q", scale=xs), y=alt.Y("y:Q", scale=ys),
        shape=alt.Shape("point:N", scale=alt.Scale(domain=["grid optimum", "refined"], range=["square", "cross"]),
                        title=None),
        tooltip=["point:N", alt.Tooltip("x:Q", format=".5g", title=x_name),
                 alt.Tooltip("y:Q", format=".5g", title=y_name)])
    return alt.layer(heat, pts).resolve_scale(color="independent").properties(width=size, height=size)

