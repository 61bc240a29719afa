"""What the chart test files share: walking a Vega-Lite spec's units, data rows and named datasets."""

from __future__ import annotations


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


def named_data(s: dict) -> set[str]:
    """Every dataset name a spec's units read."""
    out = set()
    for key in ("layer", "hconcat", "vconcat"):
        for sub in s.get(key, []):
            out |= named_data(sub)
    if isinstance(s.get("data"), dict) and "name" in s["data"]:
        out.add(s["data"]["name"])
    return out


def records(spec: dict, field: str) -> list[dict]:
    """Every inline data row of a chart spec that has `field`."""
    return [r for r in dataset_rows(spec) if field in r]


def legend_titles(s: dict) -> list[str]:
    """The titles of the legends Vega-Lite's own compiler draws for a spec (vl-convert): a legend can vanish in
    compilation (merged channels) though every encoding asks for one."""
    import json

    import pandas as pd
    import vl_convert as vlc

    plain = json.loads(json.dumps(s, default=lambda o: o.to_dict("records") if isinstance(o, pd.DataFrame) else o))
    vega = vlc.vegalite_to_vega(plain)
    out: list[str] = []

    def walk(o) -> None:
        if isinstance(o, dict):
            out.extend(str(leg.get("title")) for leg in o.get("legends", []))
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(json.loads(vega) if isinstance(vega, str) else vega)
    return out
