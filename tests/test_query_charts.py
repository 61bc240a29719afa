"""The in-browser query view: its Vega-Lite transforms, evaluated in Python by vegafusion
(`Chart.transformed_data`) at several query positions, give the attention weights and class probabilities of
`engine.query_row` (and so of the engine) to 1e-4; the spec carries every learner and binds the query."""

from __future__ import annotations

import json

import altair as alt
import jax
import numpy as np
import pytest

from engine import learners, models, query_row
from engine.tasks import TaskConfig, sample_contexts
from ui import query_charts, specs
from ui.geometry import from_angle, from_lonlat

C, n = 3, 9


def setting(d: int):
    task = TaskConfig(d, C, n)
    ctx = sample_contexts(jax.random.key(11 + d), task, 1)
    xs, ys, protos = (np.asarray(a[0]) for a in (ctx.xs, ctx.ys, ctx.protos))
    params = {k: np.asarray(v) for k, v in models.init_params(jax.random.key(5), task, 0.7).items()}
    chosen = {"softmax SA": learners.of_run("softmax", params, True, "s", "r"),
              "linear SA": learners.of_run("linear", params, False, "l", "r"),
              "kernel GD (eq. 3)": learners.of_closed_form("kernel_gd", {"eta": 20.0, "sigma2": 0.5}),
              "eq. 1": learners.of_closed_form("adaptive", {"c_sigma": 8.0, "c_eta": 2.5})}
    forms = {name: query_row.of_learner(m, xs, ys, C) for name, m in chosen.items()}
    return xs, ys, protos, forms


def evaluated(d: int, start: tuple, transforms, shown: str, data: dict, protos: np.ndarray):
    """The rows after `transforms`, with the query at `start` and `shown` drawn."""
    names = list(data["rows"]["model"].unique())
    chart = transforms(alt.Chart(alt.NamedData("rows"))).mark_point().encode(x="model:N").add_params(
        *query_charts.query_params(d, start, names, shown), *query_charts.truth_params(C, protos))
    chart = chart.properties(datasets={k: specs._records(v) for k, v in data.items()})
    return chart.transformed_data()


@pytest.mark.parametrize("d", [2, 3])
def test_transforms_match_the_engine_at_several_queries(d: int) -> None:
    xs, ys, protos, forms = setting(d)
    data = query_charts.datasets(forms, xs, ys, protos)
    starts = [(a,) for a in (0, 97, 211, 330)] if d == 2 else [(-150, 40), (10, -60), (75, 5)]
    for start in starts:
        x = from_angle(start[0]).astype(float) if d == 2 else from_lonlat(*start)
        truth = int(np.argmax(protos @ x)) + 1
        w = evaluated(d, start, lambda c: query_charts.weight_transforms(c, d), "eq. 1", data, protos)
        p = evaluated(d, start, lambda c: query_charts.probability_transforms(c, d, C), "eq. 1", data, protos)
        for name, form in forms.items():
            logits, weights = query_row.evaluate(form, x[None])
            rows = w[w["model"] == name].sort_values("r")
            np.testing.assert_allclose(rows["w"].to_numpy(), weights[0], atol=1e-4 * max(1, np.abs(weights).max()))
            probs = np.exp(logits[0] - logits[0].max())
            probs /= probs.sum()
            got = p[p["model"] == name].sort_values("cls")
            np.testing.assert_allclose(got["p"].to_numpy(), probs, atol=1e-4)
            assert (got["p_true"] - probs[truth - 1]).abs().max() < 1e-4
            assert got.loc[got["predicted"], "cls"].tolist() == [int(np.argmax(probs)) + 1]
            assert set(got["is_true"]) == {True, False} and got.loc[got["is_true"], "cls"].tolist() == [truth]


def test_attention_markers_follow_the_learner_shown() -> None:
    xs, ys, protos, forms = setting(2)
    data = query_charts.datasets(forms, xs, ys, protos)
    for shown in ("linear SA", "eq. 1"):
        got = evaluated(2, (40,), lambda c: query_charts._attention_points(c, 2), shown, data, protos)
        assert set(got["model"]) == {shown} and len(got) == n and not got["self"].any()
        _, weights = query_row.evaluate(forms[shown], from_angle(40).astype(float)[None])
        rel = np.abs(weights[0, :n]) / np.abs(weights[0, :n]).max()
        np.testing.assert_allclose(got.sort_values("r")["rel_weight"].to_numpy(), rel, atol=1e-4)


@pytest.mark.parametrize("d", [2, 3])
def test_the_template_binds_the_query_and_carries_every_learner(d: int) -> None:
    xs, ys, protos, forms = setting(d)
    names = list(forms)
    spec = specs.to_spec(query_charts.template(d, C, names, start=(0,) * (d - 1), shown="eq. 1"))
    start = (123,) if d == 2 else (33, -21)
    full = query_charts.fill(spec, query_charts.datasets(forms, xs, ys, protos), protos, start)
    params = {p["name"]: p for p in full["params"]}
    bound = [p for p in full["params"] if "bind" in p]
    assert {p["bind"]["input"] for p in bound} == {"range", "radio"}
    assert [params[k]["value"] for k in ((query_charts.QUERY,) if d == 2 else (query_charts.QLON, query_charts.QLAT))] \
        == list(start)
    assert params[query_charts.SHOWN]["bind"]["options"] == names
    assert set(full["datasets"]["rows"]["model"]) == set(names)
    assert f"{protos[0][0]:.6f}" in params["qd1"]["expr"] and spec["params"] != full["params"]  # template untouched
    assert "qtrue" in json.dumps(spec)
