"""Desk pages from a browser walk: the task inputs' ranges in sight, tables without a raw None, Landscapes keeping
its chosen runs, and the Science page's formulas (/home is in test_desk_browser.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.app_support import charts_of, open_app, open_link

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- 5: the task inputs' ranges


def test_task_inputs_show_their_ranges() -> None:
    """A number typed outside a box's range is never applied (the box keeps asking for Enter): the ranges are in
    sight under the inputs and in each box's help, and they are the boxes' own bounds."""
    at = open_app("contexts")
    boxes = {k: at.number_input(key=k) for k in ("d", "C", "n", "seed")}
    note = " ".join(c.value for c in at.sidebar.caption)
    lows = {"d": 2, "C": 2, "n": 1, "seed": 0}  # d and C can be typed as 1, which is then reported, not drawn
    for k, box in boxes.items():
        assert f"{k} {lows[k]} to {int(box.max):,}" in note, (k, note)
    assert "not applied" in note
    for k in ("d", "C", "n"):
        assert f"{lows[k]} to {int(boxes[k].max):,}" in boxes[k].help


# ---------------------------------------------------------------- 7: no raw None in tables

DASH = "\u2014"


def table_with(at, column: str):
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_weights_variants_table_has_no_none() -> None:
    """The headline run and its twin with the query among its keys: each closed form's constants are listed under
    one run only, the other cell is a dash, said in the caption."""
    at = open_app("weights")
    table = table_with(at, "eq. 1 (its own): constants")
    assert list(table["run"]) == ["pretrained/fast-softmax-d3", "pretrained/fast-softmax-d3-selfkey"]
    assert not table.isna().any().any() and (table == DASH).any().any()
    from engine import fitted
    from engine.config import PRESETS

    cfg = PRESETS["fast-softmax-d3"]  # the run's yardstick is eq. 1 at its shipped fit
    fit = fitted.fitted("adaptive", cfg.task, cfg.fit_contexts).refined
    assert table["eq. 1 (its own): constants"].tolist() == [f"c_sigma {fit['c_sigma']:.3g}, c_eta {fit['c_eta']:.3g}",
                                                            DASH]
    assert any(f"{DASH}: no value here" in c.value for c in at.caption)


def test_strategies_fig10_table_has_no_none() -> None:
    at = open_app("strategies")
    table = table_with(at, "paper_lr")
    assert not table.isna().any().any()
    fast = table[table["recipe"] == "fast-softmax-d10"]
    assert fast["paper_lr"].tolist() == [DASH]
    assert table[table["recipe"] == "paper-softmax-d10"]["paper_lr"].tolist() == ["5e-05", "0.0001", "0.0008", "0.003"]
    assert any(f"{DASH} in paper's lr: the fast recipe is the project's own" in c.value for c in at.caption)


# ---------------------------------------------------------------- 8: Landscapes keeps the chosen runs


def paths_picker(at):
    return next(m for m in at.multiselect if m.label == "Paths of runs on it")


def drawn_runs(at) -> set[str]:
    return {r["run"] for spec in charts_of(at) for rows in spec["datasets"].values() for r in rows if "run" in r}


def test_landscapes_keeps_the_chosen_runs_across_closed_forms() -> None:
    at = open_app("landscapes")
    assert at.radio(key="land_method").value == "adaptive"
    assert paths_picker(at).value == ["pretrained/fast-softmax-d3"]  # the run that represents eq. 1
    at.radio(key="land_method").set_value("adaptive_self_key").run()  # the same constants: the run still applies
    assert not at.exception and paths_picker(at).value == ["pretrained/fast-softmax-d3"]
    paths_picker(at).select("pretrained/fast-softmax-d3-selfkey").run()
    both = ["pretrained/fast-softmax-d3", "pretrained/fast-softmax-d3-selfkey"]
    assert paths_picker(at).value == both
    assert drawn_runs(at) == {"fast-softmax-d3", "fast-softmax-d3-selfkey"}
    assert any("fast-softmax-d3 represents the other eq. 1" in c.value for c in at.caption)
    at.radio(key="land_method").set_value("gd").run()  # GD's eta: linear runs only
    assert not at.exception and paths_picker(at).value == ["pretrained/fast-linear-d3"]
    at.radio(key="land_method").set_value("adaptive").run()  # back: the choice is as it was left
    assert not at.exception and paths_picker(at).value == both


# ---------------------------------------------------------------- 10: the Science page's formulas

FORMULA_TEXT = [r"\^\{", r"\^T\b", r"sqrt\(", r"\bx_[iqj]\b", r"\bW_[QKVO]\b", r"\bS\^", r"\by_hat\b", r"\bsum_",
                r"\be\^", r"\bR\^", r"\bsigma\^2(?!\))"]  # sigma^2 in brackets: the code's spelling, named


def test_science_renders_its_formulas_as_math() -> None:
    """docs/science.md writes its formulas in $...$ (Streamlit and GitHub both render it): no formula is left as
    plain text outside math and code, every paragraph closes what it opens, and the query_in_keys default is given
    as an inference, with its evidence."""
    at = open_app("science")
    (doc,) = [m.value for m in at.markdown if m.value.startswith("# The science")]
    assert "$S^{d-1}$" in doc and doc.count("\n$$\n") == 18  # its 9 display formulas, opened and closed
    for block in doc.split("\n\n"):
        assert block.count("$") % 2 == 0, block[:200]
    plain = re.sub(r"\$\$.*?\$\$|\$[^$]+\$|`[^`]+`", " ", doc, flags=re.S)
    left = {p: re.findall(r".{0,30}" + p + r".{0,30}", plain) for p in FORMULA_TEXT}
    assert not {p: hits for p, hits in left.items() if hits}
    why = next(b for b in doc.split("\n\n") if b.startswith("Why `False` is the default"))
    assert "inference" in why
    shipped = [json.loads((ROOT / "pretrained" / run / "history.json").read_text())["evals"][-1]
               for run in ("fast-softmax-d3", "fast-softmax-d3-selfkey")]  # the numbers quoted are the shipped runs'
    for number in [f"{e['c_sigma']:.1f}" for e in shipped] + [f"{e['c_eta']:.2f}" for e in shipped] + ["31.07", "7.15"]:
        assert number in why


# ---------------------------------------------------------------- kernel attention, the paper's third layer


def test_a_shipped_kernel_run_is_read_as_eq3_on_weights_and_compare() -> None:
    """The Weights page reads sigma^2 and eta off the shipped d = 3 kernel layer (as `extract.kernel_constants`
    does) and checks eq. 3 there and moved off; Compare measures the layer against kernel GD (eq. 3) by default and
    names the same reading."""
    from engine import extract, fitted
    from engine.runs import load_run

    run = load_run(ROOT / "pretrained" / "fast-kernel-d3")
    sigma2, eta = extract.kernel_constants(run.params, run.config.task)
    at = open_link("weights", run="pretrained/fast-kernel-d3")
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["sigma^2 (read off)"] == f"{sigma2:.4g}" and metrics["eta (read off)"] == f"{eta:.4g}"
    fit = fitted.fitted("kernel_gd", run.config.task).refined
    assert (metrics["sigma^2 (eq. 3's fit)"], metrics["eta (eq. 3's fit)"]) == (f"{fit['sigma2']:.4g}",
                                                                                f"{fit['eta']:.4g}")
    check = next(c for c in charts_of(at) if "eq. 3 at the extracted" in json.dumps(c.get("title", "")))
    rows = [r for rows in check["datasets"].values() for r in rows]
    at_one = [r for r in rows if r["factor"] == 1.0]
    assert {r["which"] for r in rows} == {"sigma2", "eta"} and len(at_one) == 2
    assert all(r["preds_diff"] < min(o["preds_diff"] for o in rows if o["factor"] in (0.25, 4.0)) for r in at_one)

    at = open_link("compare", run="pretrained/fast-kernel-d3", N=100)  # the smallest N: the caption is under test
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.selectbox(key="against").value == "kernel_gd"
    assert any(f"sigma^2 = {sigma2:.4g}, eta = {eta:.4g}" in c.value for c in at.caption)
