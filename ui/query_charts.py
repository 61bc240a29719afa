"""The query moved in the browser: one Vega-Lite spec holding a context, every learner's query-row form
(`engine.query_row`) and the transforms that turn a query into attention and class probabilities.

The query is a parameter bound inside the chart (an angle for d = 2; longitude and latitude for d = 3), and
so is the learner whose attention is drawn: moving either runs no Python. Decision regions do not depend on
the query and come computed (the `ring` / `cells` data). Pure Altair; no Streamlit, no JAX.

Datasets (by name, filled per context by `datasets`): `rows` (one row per learner and query-row row: the
coefficients u, b, Q, v, W, the norm, and the point's position and class), `protos`, `outline` (d = 2),
`regions` (decision ring or cells per learner) and `disagree` (where two learners predict different classes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from engine.query_row import QueryRow
from ui.context_charts import (
    CELL_GEOJSON,
    QUERY_COLOR,
    ROT_LAT,
    ROT_LON,
    class_scale,
    point_encoding,
    query_marks,
    rotation_params,
    rotation_values,
    visible,
)
from ui.geometry import lonlat

QUERY = "query"  # d = 2: the angle in degrees
QLON, QLAT = "query_lon", "query_lat"  # d = 3
SHOWN = "attention_of"
PI = "PI / 180"


def _pairs(d: int) -> list[tuple[int, int]]:
    return [(k, m) for k in range(d) for m in range(k, d)]


def query_params(d: int, start: Sequence[float], models: Sequence[str], shown: str) -> list[alt.Parameter]:
    """The bound query (and the learner drawn), and the query's coordinates as expressions of it."""
    if d == 2:
        bound = [alt.param(name=QUERY, value=round(float(start[0])),
                           bind=alt.binding_range(min=0, max=359, step=1, name="query angle (degrees) "))]
        xs = [f"cos({QUERY} * {PI})", f"sin({QUERY} * {PI})"]
    else:
        bound = [alt.param(name=QLON, value=round(float(start[0])),
                           bind=alt.binding_range(min=-180, max=180, step=1, name="query longitude ")),
                 alt.param(name=QLAT, value=round(float(start[1])),
                           bind=alt.binding_range(min=-89, max=89, step=1, name="query latitude "))]
        xs = [f"cos({QLAT} * {PI}) * cos({QLON} * {PI})", f"cos({QLAT} * {PI}) * sin({QLON} * {PI})",
              f"sin({QLAT} * {PI})"]
    coords = [alt.param(name=f"qx{k + 1}", expr=e) for k, e in enumerate(xs)]
    if not models:  # every learner is drawn in a view of its own: nothing to pick
        return [*bound, *coords]
    pick = alt.param(name=SHOWN, value=shown, bind=alt.binding_radio(options=list(models), name="attention of "))
    return [*bound, *coords, pick]


def _which(model: str | None) -> str:
    """The learner a view draws: the one picked in the chart (`attention_of`), or a fixed one."""
    return SHOWN if model is None else "'" + model.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _score_expr(d: int) -> str:
    lin = " + ".join(f"datum.u{k + 1} * qx{k + 1}" for k in range(d))
    quad = " + ".join(f"datum.q{k + 1}{m + 1} * qx{k + 1} * qx{m + 1}" for k, m in _pairs(d))
    return f"datum.b + {lin} + {quad}"


def weight_transforms(chart: alt.Chart, d: int) -> alt.Chart:
    """score -> weight per row, within each learner: none (w = score), exp, or softmax over its rows."""
    return (chart.transform_calculate(score=_score_expr(d))
            .transform_joinaggregate(top="max(score)", groupby=["model"])
            .transform_calculate(e="datum.norm == 'softmax' ? exp(datum.score - datum.top) : "
                                   "datum.norm == 'exp' ? exp(datum.score) : datum.score")
            .transform_joinaggregate(total="sum(e)", groupby=["model"])
            .transform_calculate(w="datum.norm == 'softmax' ? datum.e / datum.total : datum.e"))


def probability_transforms(chart: alt.Chart, d: int, C: int) -> alt.Chart:
    """Weights -> logits per class (sum_r w_r (v_r + x W_r)) -> class probabilities, per learner; with the
    query's true class (`truth`), P(true class) (`p_true`) and whether the class is the predicted one."""
    values = {f"val{c + 1}": f"datum.v{c + 1} + " + " + ".join(f"qx{k + 1} * datum.w{k + 1}_{c + 1}"
                                                              for k in range(d)) for c in range(C)}
    return (weight_transforms(chart, d).transform_calculate(**values)
            .transform_fold([f"val{c + 1}" for c in range(C)], as_=["key", "value"])
            .transform_calculate(cls=" : ".join(f"datum.key == 'val{c + 1}' ? {c + 1}" for c in range(C)) + " : 0",
                                 contrib="datum.w * datum.value")
            .transform_aggregate(logit="sum(contrib)", groupby=["model", "cls"])
            .transform_joinaggregate(lmax="max(logit)", groupby=["model"])
            .transform_calculate(ex="exp(datum.logit - datum.lmax)")
            .transform_joinaggregate(esum="sum(ex)", groupby=["model"])
            .transform_calculate(p="datum.ex / datum.esum", is_true="datum.cls == qtrue")
            .transform_calculate(p_if_true="datum.is_true ? datum.p : 0")
            .transform_joinaggregate(pmax="max(p)", p_true="max(p_if_true)", groupby=["model"])
            .transform_calculate(predicted="datum.p >= datum.pmax - 1e-9"))


def truth_params(C: int, protos: np.ndarray | None = None) -> list[alt.Parameter]:
    """The query's true class (1-based), its nearest prototype: `qd1..qdC` are its dots with the prototypes
    (set per context; zeros in a template) and `qtrue` the first of the largest, written with comparisons
    only (no `max` / `indexof`, so that vegafusion evaluates it in the tests too)."""
    dots = (["0"] * C if protos is None else
            [" + ".join(f"{float(z[k]):.6f} * qx{k + 1}" for k in range(len(z))) for z in protos])
    wins = [" && ".join(f"qd{j + 1} >= qd{k + 1}" for k in range(C) if k != j) for j in range(C)]
    truth = " : ".join(f"{w} ? {j + 1}" for j, w in enumerate(wins[:-1])) + f" : {C}"
    return [*(alt.param(name=f"qd{j + 1}", expr=e) for j, e in enumerate(dots)), alt.param(name="qtrue", expr=truth)]


def _circle(C: int, size: int, model: str | None = None) -> alt.LayerChart:
    scale = alt.Scale(domain=[-1.4, 1.4], nice=False)
    x, y = alt.X("x1:Q", scale=scale, axis=None), alt.Y("x2:Q", scale=scale, axis=None)
    color = alt.Color("class:N", scale=class_scale(C), title="class")
    outline = alt.Chart(alt.NamedData("outline")).mark_line(color="#bbbbbb", strokeWidth=1).encode(x, y, order="o:Q")
    ring = alt.Chart(alt.NamedData("regions")).transform_filter(f"datum.model == {_which(model)}").mark_rule(
        strokeWidth=4, opacity=0.8).encode(x, y, x2="e1:Q", y2="e2:Q", color=color,
                                           tooltip=[alt.Tooltip("angle:Q", format=".0f", title="query angle"),
                                                    alt.Tooltip("class:N", title="predicted")])
    protos = alt.Chart(alt.NamedData("protos"))
    arrows = [protos.mark_rule(strokeWidth=2.5).encode(
        alt.X("o1:Q", scale=scale, axis=None), alt.Y("o2:Q", scale=scale, axis=None), x2="x1:Q", y2="x2:Q",
        color=color),
        protos.mark_point(shape="triangle-up", filled=True, size=140, opacity=1).encode(
            x, y, angle=alt.Angle("angle:Q", scale=None), color=color,
            tooltip=[alt.Tooltip("class:N", title="prototype of class")])]
    points = _attention_points(alt.Chart(alt.NamedData("rows")), 2, model).encode(x, y, **_point_channels(C))
    query = alt.Chart(alt.NamedData("outline")).transform_filter("datum.o == 0").transform_calculate(
        qx="qx1", qy="qx2", cls="qtrue")
    qpos = dict(x=alt.X("qx:Q", scale=scale, axis=None), y=alt.Y("qy:Q", scale=scale, axis=None))
    marks = query_marks(query, C, qpos, field="cls")
    disagree = alt.Chart(alt.NamedData("disagree")).mark_rule(strokeWidth=4, color="black").encode(
        x, y, x2="e1:Q", y2="e2:Q", tooltip=[alt.Tooltip("angle:Q", format=".0f",
                                                         title="linear and softmax disagree at angle")])
    layers = [outline, ring, *arrows, points, *marks]
    if model is None:
        layers.insert(2, disagree)
    if model is not None:  # a fixed learner: where its attention goes, in one line under the circle
        cos = " + ".join(f"datum.x{k + 1} * qx{k + 1}" for k in range(2))
        focus = (weight_transforms(alt.Chart(alt.NamedData("rows")), 2)
                 .transform_filter(f"datum.model == {_which(model)} && !datum.self")
                 .transform_calculate(cosq=cos).transform_calculate(wc="datum.w * datum.cosq")
                 .transform_aggregate(swc="sum(wc)", sw="sum(w)", mc="mean(cosq)")
                 .transform_calculate(text="'attention-weighted mean cosine to the query ' + format(datum.swc / "
                                           "datum.sw, '.2f') + ' (unweighted ' + format(datum.mc, '.2f') + ')'")
                 .mark_text(fontSize=11, color="#444444").encode(x=alt.datum(0.0), y=alt.datum(-1.36), text="text:N"))
        layers.append(focus)
    return alt.layer(*layers, title=model or "").properties(width=size, height=size)


def _sphere(C: int, size: int) -> alt.LayerChart:
    """The sphere in a view the reader turns with its own two sliders (set to face the query at first): a query
    move then redraws the points and the query only, not the cells and the graticule."""
    proj = dict(type="orthographic", rotate=alt.expr(f"[{ROT_LON}, {ROT_LAT}, 0]"))
    pos = dict(longitude="lon:Q", latitude="lat:Q")
    color = alt.Color("class:N", scale=class_scale(C), title="class")
    layers = [
        alt.Chart(alt.sphere()).mark_geoshape(fill="#f3f5f9", stroke="#999999").project(**proj),
        alt.Chart(alt.NamedData("regions")).transform_filter(f"datum.model == {SHOWN}").transform_calculate(
            cell=CELL_GEOJSON).mark_geoshape(opacity=0.42, strokeWidth=0).encode(
            shape=alt.Shape("cell:N", type="geojson"), color=color,
            tooltip=[alt.Tooltip("class:N", title="predicted")]).project(**proj),
        alt.Chart(alt.NamedData("disagree")).transform_calculate(cell=CELL_GEOJSON).mark_geoshape(
            fill=None, stroke="black", strokeWidth=1.2).encode(
            shape=alt.Shape("cell:N", type="geojson"),
            tooltip=[alt.Tooltip("class:N", title="linear and softmax disagree")]).project(**proj),
        alt.Chart(alt.graticule(step=[30, 30])).mark_geoshape(fill=None, stroke="#c8c8c8", strokeWidth=0.6)
        .project(**proj),
        alt.Chart(alt.NamedData("protos")).mark_point(shape="triangle-up", filled=True, size=230, stroke="black",
                                                      strokeWidth=1, opacity=1).encode(
            **pos, color=color, tooltip=[alt.Tooltip("class:N", title="prototype of class")])
        .transform_filter(visible()).project(**proj),
        _attention_points(alt.Chart(alt.NamedData("rows")), 3).transform_filter(visible()).encode(
            **pos, **_point_channels(C)).project(**proj),
    ]
    query = alt.Chart(alt.NamedData("protos")).transform_filter("datum.class == 1").transform_calculate(
        lon=QLON, lat=QLAT, cls="qtrue").transform_filter(visible())
    layers += [m.project(**proj) for m in query_marks(query, C, pos, field="cls")]
    return alt.layer(*layers).properties(width=size, height=size)


def _attention_points(chart: alt.Chart, d: int, model: str | None = None) -> alt.Chart:
    """The context points of the learner drawn, sized by |w| / max |w| over its context points."""
    return (weight_transforms(chart, d).transform_filter(f"datum.model == {_which(model)} && !datum.self")
            .transform_calculate(absw="abs(datum.w)")
            .transform_joinaggregate(wmax="max(absw)")
            .transform_calculate(rel_weight="datum.wmax > 0 ? datum.absw / datum.wmax : 0",
                                 sign="datum.w >= 0 ? 'attracts (w >= 0)' : 'repels (w < 0)'")
            .mark_point(filled=True))


def _point_channels(C: int) -> dict:
    """The context charts' point encoding on the view's weight field `w`; three sizes: the row fits 880 px."""
    return point_encoding(C, True, weight="w", size_values=(0.25, 0.5, 1.0))


def _bars(models: Sequence[str], d: int, C: int, width: int) -> alt.LayerChart:
    """Every learner's class probabilities at the query (stacked, true class outlined), with what it predicts
    and P(true class) written beside it."""
    base = probability_transforms(alt.Chart(alt.NamedData("rows")), d, C)
    y = alt.Y("model:N", sort=list(models), title=None, axis=alt.Axis(labelLimit=0))  # no cut: names are short
    bars = base.mark_bar(strokeWidth=2).encode(
        x=alt.X("p:Q", stack="zero", scale=alt.Scale(domain=[0, 1.55]), title="probability",
                axis=alt.Axis(values=[0, 0.5, 1], format=".1f")),
        y=y, color=alt.Color("cls:N", scale=class_scale(C), title="class"), order=alt.Order("cls:Q"),
        stroke=alt.condition("datum.is_true", alt.value(QUERY_COLOR), alt.value("white")),
        tooltip=["model:N", alt.Tooltip("cls:N", title="class"), alt.Tooltip("p:Q", format=".4f")])
    text = base.transform_filter("datum.predicted").transform_calculate(
        label="'predicts ' + datum.cls + ' · P(true) ' + format(datum.p_true, '.2f')").mark_text(
        align="left", dx=4, fontSize=12).encode(x=alt.datum(1.0), y=y, text="label:N")
    title = alt.Title(alt.expr("'predicted probabilities (the query is of class ' + qtrue + ')'"))
    return alt.layer(bars, text, title=title).properties(width=width, height=34 * len(models))


def template(d: int, C: int, models: Sequence[str], size: int = 400, bar_width: int = 330,
             start: Sequence[float] = (0.0, 0.0), shown: str | None = None, stacked: bool = False,
             side_by_side: bool = False) -> alt.TopLevelMixin:
    """The whole interactive view for d = 2 (circle) or d = 3 (sphere): context with attention and decision
    regions, and the probability bars; `stacked` puts the bars under the context (narrow screens);
    `side_by_side` draws one circle per learner (d = 2), all moved by the one query."""
    if d not in (2, 3):
        raise ValueError(f"the in-browser query is drawn for d = 2 and d = 3, not d = {d}")
    shown = shown if shown in models else models[0]
    if side_by_side:
        if d != 2:
            raise ValueError("learners side by side are drawn on the circle (d = 2)")
        context = alt.hconcat(*(_circle(C, size, m) for m in models))
    else:
        context = _circle(C, size) if d == 2 else _sphere(C, size)
    bars = _bars(models, d, C, bar_width)
    chart = (alt.vconcat if stacked else alt.hconcat)(context, bars).resolve_scale(color="shared").configure_legend(
        orient="bottom", direction="horizontal", titleOrient="left")  # under the charts: nothing cut at the right
    view = rotation_params(*start) if d == 3 else ()  # the sphere faces the starting query
    picks = () if side_by_side else models
    return chart.add_params(*query_params(d, start, picks, shown), *truth_params(C), *view)


def with_class_legend(spec: dict) -> dict:
    """A copy of a filled view's spec with a class legend: every colour-by-class encoding asks for one by name
    (the query's ring, whose legend is off, otherwise takes the merged class legend away). For a slide, where the
    headline names the query's class and the room needs the key; the pages' columns have no width to spare."""
    def walk(node):
        if isinstance(node, dict):
            color = node.get("color")
            if isinstance(color, dict) and color.get("field") == "class":
                node = {**node, "color": {**color, "legend": {"title": "class"}}}
            return {k: v if k == "datasets" else walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(spec)


def datasets(forms: Mapping[str, QueryRow], xs: np.ndarray, ys: np.ndarray, protos: np.ndarray,
             regions: Mapping[str, np.ndarray] | None = None, grid: Mapping[str, np.ndarray] | None = None,
             contrast: tuple[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """The data of `template` for one context: `forms` (learner name -> QueryRow), the context (xs, ys
    0-based, protos) and, per learner, its predicted class (0-based) on `grid` (d = 2: {"angle"} radians;
    d = 3: {"lon", "lat", "step"}). With `contrast` (two learner names), `disagree` holds the grid points
    where the two predict different classes."""
    xs, protos = np.asarray(xs, float), np.asarray(protos, float)
    n, d = xs.shape
    C = protos.shape[0]
    frames = []
    for name, f in forms.items():
        R = f.u.shape[0]
        row = {"model": name, "r": np.arange(R), "self": np.arange(R) >= n, "norm": f.norm, "b": f.b,
               "i": np.append(np.arange(n), [-1] * (R - n)), "class": np.append(np.asarray(ys) + 1, [0] * (R - n))}
        pos = np.vstack([xs, np.zeros((R - n, d))])
        row.update({f"x{k + 1}": pos[:, k] for k in range(d)})
        row.update({f"u{k + 1}": f.u[:, k] for k in range(d)})
        row.update({f"q{k + 1}{m + 1}": f.Q[:, k, m] * (1 if k == m else 2) for k, m in _pairs(d)})
        row.update({f"v{c + 1}": f.v[:, c] for c in range(C)})
        row.update({f"w{k + 1}_{c + 1}": f.W[:, k, c] for k in range(d) for c in range(C)})
        frames.append(pd.DataFrame(row))
    rows = pd.concat(frames, ignore_index=True)
    out = {"rows": rows}
    if d == 2:
        t = np.linspace(0, 2 * np.pi, 181)
        out["outline"] = pd.DataFrame({"x1": np.cos(t), "x2": np.sin(t), "o": np.arange(t.size)})
        theta = np.degrees(np.arctan2(protos[:, 1], protos[:, 0]))
        out["protos"] = pd.DataFrame({"x1": protos[:, 0], "x2": protos[:, 1], "o1": 0.0, "o2": 0.0,
                                      "class": np.arange(1, C + 1), "angle": np.mod(90 - theta, 360)})
    else:
        rows["lon"], rows["lat"] = lonlat(rows[["x1", "x2", "x3"]].to_numpy())
        p_lon, p_lat = lonlat(protos)
        out["protos"] = pd.DataFrame({"lon": p_lon, "lat": p_lat, "class": np.arange(1, C + 1)})
    if regions is not None and grid is not None:
        parts = []
        for name, cls in regions.items():
            if d == 2:
                a = np.asarray(grid["angle"], float)
                parts.append(pd.DataFrame({"model": name, "x1": 1.1 * np.cos(a), "x2": 1.1 * np.sin(a),
                                           "e1": 1.24 * np.cos(a), "e2": 1.24 * np.sin(a), "class": cls + 1,
                                           "angle": np.degrees(a)}))
            else:
                h = float(grid["step"]) / 2
                lon, lat = np.asarray(grid["lon"]), np.asarray(grid["lat"])
                parts.append(pd.DataFrame({"model": name, "lon0": lon - h, "lon1": lon + h,
                                           "lat0": np.maximum(lat - h, -90.0), "lat1": np.minimum(lat + h, 90.0),
                                           "class": np.asarray(cls, int) + 1}))
        out["regions"] = pd.concat(parts, ignore_index=True)
        differ = np.zeros(0, bool)
        if contrast is not None and all(c in regions for c in contrast):
            differ = np.asarray(regions[contrast[0]]) != np.asarray(regions[contrast[1]])
        if d == 2:
            a = np.asarray(grid["angle"], float)[differ] if differ.size else np.zeros(0)
            out["disagree"] = pd.DataFrame({"x1": 1.31 * np.cos(a), "x2": 1.31 * np.sin(a), "e1": 1.38 * np.cos(a),
                                            "e2": 1.38 * np.sin(a), "angle": np.degrees(a)})
        else:
            cells = out["regions"][out["regions"]["model"] == next(iter(regions))].reset_index(drop=True)
            out["disagree"] = cells[differ] if differ.size else cells.iloc[:0]
    return out


def fill(spec: dict, data: Mapping[str, pd.DataFrame], protos: np.ndarray, start: Sequence[float]) -> dict:
    """A copy of a serialised `template` with one context's data, the query's dots with its prototypes and
    the query's starting position; the template stays untouched."""
    dots = {p.param.name: p.param.to_dict() for p in truth_params(len(protos), protos)[:-1]}
    start = (start[0],) if len(start) == 1 else (start[0], min(max(start[1], -89), 89))  # the slider's range
    bound = dict(zip((QUERY,) if len(start) == 1 else (QLON, QLAT), (round(float(v)) for v in start)))
    if len(start) == 2:
        bound.update(rotation_values(*start))
    params = [dots.get(p.get("name")) or ({**p, "value": bound[p["name"]]} if p.get("name") in bound else p)
              for p in spec.get("params", [])]
    return {**spec, "params": params, "datasets": {**spec.get("datasets", {}), **data}}
