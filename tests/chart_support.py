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
