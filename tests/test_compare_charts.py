"""The model-against-closed-form builders through their Vega-Lite specs."""

from __future__ import annotations

import numpy as np
import pytest

from tests.chart_support import dataset_rows, layers, mark_type, spec
from ui import compare_charts


def test_identity_scatter_has_y_equals_x_and_means() -> None:
    x, y = np.array([0.1, 0.5, 2.0]), np.array([0.2, 0.4, 1.0])
    s = spec(compare_charts.identity_scatter(x, y, "model", "closed form", domain=(0.0, 3.0)))
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
    s = spec(compare_charts.identity_scatter(np.array([0.0, 1.0]), np.array([0.5, 4.0]), "m", "c"))
    rule = next(u for u in layers(s) if mark_type(u) == "rule")
    lo, hi = rule["encoding"]["x"]["datum"], rule["encoding"]["x2"]["datum"]
    assert lo <= 0.0 and hi >= 4.0




def test_extracted_check_log_factor_axis() -> None:
    rows = [{"which": w, "factor": f, "c_sigma": 1.0, "c_eta": 1.0, "preds_diff": abs(np.log(f))}
            for w in ("c_sigma", "c_eta") for f in (0.5, 1.0, 2.0)]
    s = spec(compare_charts.extracted_check(rows))
    assert s["encoding"]["x"]["scale"]["type"] == "log"
    assert s["encoding"]["x"]["scale"]["domain"] == [0.5, 2.0]
    assert s["encoding"]["x"]["axis"]["values"] == [0.5, 1.0, 2.0]  # ticks at the factors tested


def test_headline_legend_shows_each_learners_line_style() -> None:
    """Colour and dash encode the same field, so Vega-Lite draws one legend whose symbols are the lines
    themselves: solid for trained layers, dashed for closed forms (two legends showed identical dots)."""
    rows = [{"d": d, "learner": name, "kind": "x", "loss": 0.1 * d, "accuracy": 0.9}
            for d in (2, 3) for name in compare_charts.HEADLINE_COLORS]
    enc = spec(compare_charts.headline_chart(rows))["encoding"]
    assert enc["strokeDash"]["field"] == enc["color"]["field"] == "learner"
    dashes = dict(zip(enc["strokeDash"]["scale"]["domain"], enc["strokeDash"]["scale"]["range"]))
    assert {k for k, v in dashes.items() if v == [1, 0]} == {"softmax SA (trained)", "linear SA (trained)",
                                                             "kernel SA (trained)"}
    assert all(v == [5, 3] for k, v in dashes.items() if "trained" not in k)
    assert enc["color"]["legend"]["symbolType"] == "stroke" and "legend" not in enc["strokeDash"]


def test_headline_with_seeds_draws_each_trained_layers_mean_and_its_interval() -> None:
    """With the seeds' summary, a trained layer's point is its mean over seeds and a bar spans its 95% interval;
    a layer without seeds (and every closed form) keeps the table's value."""
    from engine import seeds

    rows = [{"d": d, "learner": name, "kind": "trained layer" if "trained" in name else "closed form",
             "loss": 0.5, "accuracy": 0.8} for d in (2, 3) for name in ("linear SA (trained)", "softmax SA (trained)",
                                                                         "GD (eq. 2)")]
    per_seed = [{"d": 2, "layer": "softmax", "loss": v, "accuracy": 0.9, "converged": True, "strategy": "selection"}
                for v in (0.10, 0.12, 0.11, 0.13, 0.09)]
    summary = seeds.summary(per_seed)
    mean, lo, hi = seeds.interval([0.10, 0.12, 0.11, 0.13, 0.09])
    s = spec(compare_charts.headline_chart(rows, seeds=summary))
    main, bars = s["layer"]
    drawn = {(r["d"], r["learner"]): r for r in s["datasets"][main["data"]["name"]]}
    assert drawn[(2, "softmax SA (trained)")]["loss"] == pytest.approx(mean)
    assert drawn[(3, "softmax SA (trained)")]["loss"] == 0.5 and drawn[(2, "linear SA (trained)")]["loss"] == 0.5
    (bar,) = s["datasets"][bars["data"]["name"]]
    assert (bar["d"], bar["learner"], bar["loss_lo"], bar["loss_hi"]) == (2, "softmax SA (trained)",
                                                                         pytest.approx(lo), pytest.approx(hi))
    assert bars["mark"]["type"] == "rule" and bars["encoding"]["y2"]["field"] == "loss_hi"
    assert "5 seeds" in " ".join(main["encoding"]["color"]["title"])
    assert "linear SA: one run" in " ".join(main["encoding"]["color"]["title"])  # no seeds of it in the summary


def test_headline_colours_name_every_learner_of_the_table():
    """The chart's colours are keyed by the table's learner names (closed forms under `closed_form.NAMES`)."""
    from engine import headline
    from engine.closed_form import NAMES

    assert set(compare_charts.HEADLINE_COLORS) == set(headline.LEARNERS)
    assert {NAMES[m] for m in ("gd", "kernel_gd", "adaptive")} <= set(compare_charts.HEADLINE_COLORS)


def test_headline_yardsticks_are_grey_lines_with_one_legend_entry_per_family() -> None:
    """The baselines (kind "baseline") are left out unless asked for; asked for, each is a thin grey line of its own,
    the GD step counts sharing one legend entry, in a shape legend apart from the learners' colours."""
    from ui.specs import dataset_problems

    names = ["oracle (nearest prototype)", "k-NN vote", "GD, 2 steps", "GD, 3 steps", "logistic regression"]
    rows = [{"d": d, "learner": name, "kind": "x", "loss": 0.1 * d, "accuracy": 0.9}
            for d in (2, 3) for name in compare_charts.HEADLINE_COLORS]
    rows += [{"d": d, "learner": name, "kind": "baseline", "loss": 0.05 * d, "accuracy": 0.8, "constants": "k 3"}
             for d in (2, 3) for name in names]
    plain = spec(compare_charts.headline_chart(rows))
    assert "layer" not in plain and {r["learner"] for r in dataset_rows(plain)} == set(compare_charts.HEADLINE_COLORS)
    s = spec(compare_charts.headline_chart(rows, legend_orient="bottom", yardsticks=True))
    assert dataset_problems(s) == []
    main, lines, points = layers(s)
    assert mark_type(lines) == "line" and lines["mark"]["color"] == compare_charts.YARDSTICK_GREY
    assert lines["encoding"]["detail"]["field"] == "learner"  # one line per baseline, GD step counts included
    shape = points["encoding"]["shape"]
    assert shape["scale"]["domain"] == ["oracle (nearest prototype)", "k-NN vote", "GD, 2-3 steps",
                                        "logistic regression"]
    assert shape["legend"]["orient"] == "bottom" and "color" not in points["encoding"]
    assert compare_charts.YARDSTICK_GREY not in compare_charts.HEADLINE_COLORS.values()  # grey means a yardstick


def _context_size_rows(d: int = 2) -> list[dict]:
    """A context-size table at d and d + 1: each learner's loss falls with n, the closed forms refitted a little
    lower away from the training n (100)."""
    rows = []
    for dd in (d, d + 1):
        for n in (20, 50, 100, 200, 400):
            for learner, kind, refits in (("softmax SA (trained)", "trained layer", (False,)),
                                          ("linear SA (trained)", "trained layer", (False,)),
                                          ("eq. 1", "closed form", (False, True)),
                                          ("GD (eq. 2)", "closed form", (False, True))):
                for refit in refits:
                    loss = 1.0 / np.log(n) - (0.01 if refit and n != 100 else 0.0)
                    rows.append({"d": dd, "n": n, "learner": learner, "kind": kind, "refitted": refit,
                                 "fit_n": n if refit else 100, "loss": loss, "loss_se": 0.002 * dd,
                                 "accuracy": 0.9, "contexts": 4000, "constants": "eta 45"})
    return rows


def test_context_size_chart_draws_every_n_of_every_learner_at_its_d() -> None:
    """Log x with a tick at each n; one line per learner and fitting (refitted dashed, the rest solid), a point and
    an error bar (loss -+ one standard error) per row of the chosen d only, and a rule at the training n."""
    from ui.specs import dataset_problems

    rows = _context_size_rows(2)
    s = spec(compare_charts.context_size_chart(rows, 2))
    assert dataset_problems(s) == []
    units = layers(s)
    lines = [u for u in units if mark_type(u) == "line"]
    assert lines and all(u["encoding"]["x"]["scale"]["type"] == "log" for u in lines)
    assert lines[0]["encoding"]["x"]["axis"]["values"] == [20, 50, 100, 200, 400]
    dash = lines[0]["encoding"]["strokeDash"]
    assert dict(zip(dash["scale"]["domain"], dash["scale"]["range"])) == {
        compare_charts.trained_at(100): [1, 0], compare_charts.REFITTED: [7, 4]}
    assert all(u["encoding"]["detail"]["field"] == "series" for u in lines)
    drawn = [r for r in dataset_rows(s) if "series" in r]
    want = [r for r in rows if r["d"] == 2]
    assert len({(r["series"], r["n"]) for r in drawn}) == len(want) == 30  # every row of d = 2, none of d = 3
    assert {r["series"] for r in drawn} == {"softmax SA (trained)", "linear SA (trained)", "eq. 1", "eq. 1, refitted",
                                           "GD (eq. 2)", "GD (eq. 2), refitted"}
    assert all(r["lo"] == pytest.approx(r["loss"] - 0.004) and r["hi"] == pytest.approx(r["loss"] + 0.004)
               for r in drawn)
    bars = [u for u in units if mark_type(u) == "rule" and "y2" in u.get("encoding", {})]
    assert bars and all(u["encoding"]["y"]["field"] == "lo" and u["encoding"]["y2"]["field"] == "hi" for u in bars)
    assert {r["n"] for r in dataset_rows(s) if set(r) == {"n"}} == {100}  # the training n's rule


def test_context_size_chart_renders_with_both_legends() -> None:
    """Vega-Lite's own compiler draws it (vl-convert): the learner and fitting legends and every n's tick label."""
    import json

    import vl_convert as vlc

    from ui.specs import to_spec

    svg = vlc.vegalite_to_svg(json.loads(json.dumps(to_spec(compare_charts.context_size_chart(
        _context_size_rows(3), 3)), default=str)))
    for text in ("learner", "constants", compare_charts.REFITTED, compare_charts.trained_at(100), "softmax SA",
                 ">20<", ">400<", "d = 3"):
        assert text in svg, text
