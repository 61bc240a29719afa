"""Vega-Lite spec plumbing shared by the chart modules: serialising a chart, filling a serialised template
with its named datasets, inlining datasets, and concatenating charts that carry their own data.

Pure functions of Altair objects and plain dicts; no Streamlit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import altair as alt
import pandas as pd

# Snapshots of A and B through training, 100 x 100 landscapes and long sweeps exceed Altair's default
# 5,000-row guard; the setting is process-wide, and every page draws through this module.
alt.data_transformers.disable_max_rows()


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


def stable_names(spec: Mapping, prefix: str = "d") -> dict:
    """The spec with its named datasets renamed by order of first use (`d0`, `d1`, ...) instead of by a hash of
    their rows, as Altair names them. A chart rebuilt with new rows then serialises to the same spec with new
    datasets, and Streamlit's front end replaces the rows in the drawn view instead of embedding the chart again
    (parsing and compiling it): a live chart redrawn every few seconds costs the browser little."""
    datasets = spec.get("datasets") or {}
    if not datasets:
        return dict(spec)
    text = json.dumps({k: v for k, v in spec.items() if k != "datasets"})
    order = sorted(datasets, key=lambda name: text.find(json.dumps(name)))
    names = {old: f"{prefix}{i}" for i, old in enumerate(order)}
    for old, new in names.items():
        text = text.replace(json.dumps(old), json.dumps(new))
    # in the order of their names: Streamlit's front end pairs a redrawn chart's datasets with the drawn one's by place
    return {**json.loads(text), "datasets": {names[old]: datasets[old] for old in order}}


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


def with_rows(spec: Mapping) -> dict:
    """A copy of a serialised chart whose named datasets are plain rows: `fill` may hold data frames (Streamlit
    ships them as Arrow), but a spec written out as JSON (the talk's static export) needs rows."""
    datasets = spec.get("datasets") or {}
    return {**spec, "datasets": {k: _records(v) if isinstance(v, pd.DataFrame) else v for k, v in datasets.items()}}


def _named(prefix: str, name: str) -> alt.NamedData:
    return alt.NamedData(name=f"{prefix}{name}")


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


def dataset_problems(spec: Mapping) -> list[str]:
    """What keeps a serialised chart from drawing its data: a named dataset that a part reads but the top level
    does not define, or `datasets` nested in a part (Vega-Lite ignores them there and draws nothing, silently).
    Empty for a spec whose every named read resolves."""
    top = spec.get("datasets") or {}
    problems: list[str] = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, Mapping):
            if path and "datasets" in node:
                problems.append(f"{path}: datasets nested in a part ({', '.join(sorted(node['datasets']))})")
            data = node.get("data")
            if isinstance(data, Mapping) and "name" in data and data["name"] not in top:
                problems.append(f"{path or 'top'}: reads dataset {data['name']!r}, not defined at the top level")
            for k, v in node.items():
                if k != "datasets":
                    walk(v, f"{path}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(spec, "")
    return problems


def with_config(spec: Mapping, config: Mapping) -> dict:
    """A copy of a serialised chart with `config` merged over its own, one level deep (e.g. the talk's type
    sizes over a chart's axis settings); the spec itself is left untouched (it is shared between reruns)."""
    merged = dict(spec.get("config", {}))
    for k, v in config.items():
        merged[k] = {**merged.get(k, {}), **v} if isinstance(v, Mapping) else v
    return {**spec, "config": merged}
