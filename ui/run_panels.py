"""Panels about runs shared by the Weights, Compare and Train pages: the construction a run is measured against,
a run's weights and path through training, the constants of several runs, the shipped runs' summary, and the
two variants of a softmax layer (query among its keys or not) side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from engine import extract, learners, models, report
from engine.closed_form import NAMES
from engine.config import TrainConfig
from engine.runs import RunError
from ui import landscape_charts, loaders, run_charts, run_index, snapshot_player, weight_charts, widgets


def heat_cell(D: int, room: int = 300) -> int:
    """Pixels per matrix entry: a D x D heatmap about `room` pixels wide, entries 12 to 30 pixels."""
    return max(12, min(30, room // D))


def path_caption(method: str, fit, path_rows: list[dict], intro: bool = True) -> str:
    """What the path shows (`intro`), what it leaves off the log axes and why, and at d = 10 the valley it
    walks. `method`: the closed form whose landscape is drawn."""
    names = weight_charts.path_names(fit.axes)
    frame = landscape_charts.left_off(landscape_charts.path_frame(path_rows, names), fit.axes)
    off = frame[~frame["on_axes"]].to_dict("records")  # as the chart decides
    text = (f"The run's {' and '.join(names)} at each of its {len(path_rows)} snapshots (read off A and B as on "
            f"docs/science.md section 7) on the landscape of {NAMES[method]}, the closed form it represents, "
            "fitted on 10,000 fixed contexts; the ringed point follows the snapshot control.") if intro else ""
    if off:
        last = max(p["step"] for p in off)
        why = ("elimination: both constants negative" if path_rows and all(path_rows[-1][k] < 0 for k in names)
               else "the chance plateau, where the constants are near 0 and change sign with noise")
        text += (f" {len(off)} snapshots (up to step {last:,}) are not positive, or off the chart, and stay off "
                 f"these log axes ({why}); the note in the chart says so at those steps.")
    v = fit.valley if len(names) == 2 else None
    if v and path_rows:
        end = path_rows[-1]
        text += (f" The bright band is eq. 1's flat valley (c_sigma * c_eta ~ {v['product']:.3g}): the run ends at "
                 f"c_sigma * c_eta = {end['c_sigma'] * end['c_eta']:.3g}, walking along it, where only the product "
                 "is pinned.")
    return text


def dynamics_panel(entry: run_index.RunEntry, room: int = 300, key: str = "w", narrow: bool = False,
                   play: bool = True) -> None:
    """A and B through training over the run's path on its closed form's landscape, one snapshot control for
    both, with a Play button that moves it in the browser (`snapshot_player`; with `play=False` the page mounts
    one player for several panels). `room`: pixels for one matrix; `narrow`: one column (A over B over the
    path), for two runs side by side."""
    config = entry.config
    try:
        history = loaders.read_history(entry.path)
        run_key = loaders.run_key(entry.path)
    except RunError as e:
        st.error(f"{entry.name}: {e}")
        return
    if config is None:
        st.error(f"{entry.name}: {entry.error}")
        return
    snapshots, task = history.get("snapshots", []), config.task
    if not snapshots:
        st.info(f"{entry.name} has no snapshots of A and B yet.")
        return
    fit = loaders.fit(config.yardstick, task.d, task.C, task.n)
    path_rows = loaders.run_path(entry.path, task.d, task.C, task.n)
    movie = loaders.chart_spec(f"dynamics|{run_key}|{room}|{narrow}", lambda: weight_charts.weights_with_path(
        snapshots, task.d, fit, path_rows, title=entry.name, cell=heat_cell(task.D, room),
        size=room if narrow else min(340, room + 60), stacked=narrow))
    if play and len(snapshots) > 1:
        snapshot_player.player(f"{key}_play")
    widgets.show_chart(movie, lambda: weight_charts.snapshot_frame(snapshots).merge(
        pd.DataFrame(path_rows), on=["idx", "step"]), f"weights_{entry.name}")
    st.caption(path_caption(config.yardstick, fit, path_rows))


def live_weights(path: str, history: dict, config: TrainConfig, room: int = 240) -> None:
    """A and B of a training job's latest snapshot over its path so far: drawn once per new snapshot (the chart
    is cached by the snapshots shown), so the polling fragment re-sends an unchanged chart between them."""
    snapshots = history.get("snapshots") or []
    if not snapshots:
        return
    task = config.task
    fit = loaders.fit(config.yardstick, task.d, task.C, task.n)
    latest = snapshots[-1]
    stamp = loaders.digest([path, len(snapshots), latest, repr(config)])  # a run trained again under its name differs
    st.caption(f"A and B at step {latest['step']:,}, and the path so far")  # beside the chart: its spec stays the same
    widgets.chart_only(loaders.live_chart_spec(f"live|{stamp}", lambda: (
        weight_charts.weights_with_path([latest], task.d, fit, extract.path(snapshots, task),
                                     cell=heat_cell(task.D, room), size=room))))


def constants_across_runs(entries: list[run_index.RunEntry], key: str = "w_multi") -> None:
    """c_sigma and c_eta through training of the chosen runs, on a step, log-step or fraction-of-training axis,
    each run's fitted constants dashed in its colour."""
    default = [widgets.run_id(e) for e in entries[:6]]
    chosen = widgets.run_picker("Runs", key, entries, multi=True, default=default)
    x_axis = st.radio("Step axis", list(run_charts.STEP_AXES), index=1, horizontal=True, key=f"{key}_axis",
                      format_func=run_charts.STEP_AXES.get,
                      help="log: runs of 350 and 40,000 steps both show their descent; fraction: end to end")
    rows, refs, bands = [], [], []
    keys = "|".join(loaders.run_key(e.path) for e in chosen)  # before reading: a run may write meanwhile
    for e in chosen:
        config = e.config
        try:
            hist = loaders.read_history(e.path)
        except RunError as err:
            st.error(f"{e.name}: {err}")
            continue
        tag = f"{e.name} (d={config.d}, lr={config.lr:g})"
        rows += [{"run": tag, "step": r["step"], "steps": config.steps, "c_sigma": r.get("c_sigma"),
                  "c_eta": r.get("c_eta")} for r in hist.get("evals", [])]
        best = hist.get("yardsticks", {}).get(config.yardstick, {}).get("best", {})
        if "c_sigma" in best:
            refs.append({"run": tag, **best})
        evals = hist.get("evals", [])
        if e.origin == "pretrained" and e.name == config.preset and evals:  # a shipped recipe: its seeds' range
            bands += [{"run": tag, **b} for b in loaders.seed_band(config.preset, evals[-1].get("c_eta"))]
    if not rows:
        return
    width = run_charts.constants_panel_width(rows, 800, 330)  # the page's column at 1280 px
    chart = loaders.chart_spec(f"constants|{x_axis}|{keys}|{len(bands)}", lambda: run_charts.constants_curves(
        rows, width=width, x_axis=x_axis, references=refs, bands=bands))
    widgets.show_chart(chart, lambda: pd.DataFrame(rows), "constants_through_training")
    note = "Dashed: each run's fitted constants of the closed form it represents (its yardstick)."
    if bands:
        counts = sorted({b["seeds"] for b in bands})
        note += (f" Shaded: the range over {'-'.join(map(str, counts))} seeds of the same recipe (`python -m engine "
                 "seeds`; seeds that ended on the run's branch, selection or elimination), where the data exist.")
    if any(e.config and e.config.d == 10 for e in chosen):
        note += (" At d = 10 eq. 1's landscape is a flat valley along c_sigma * c_eta ~ 350: the fitted and the "
                 "trained constants need not agree one by one, only their product is pinned.")
    st.caption(note)


def shipped_summary() -> pd.DataFrame:
    """The shipped runs: model, steps, final loss against the closed-form optimum, gap, verdict, constants."""
    rows = []
    for e in run_index.entries():
        if e.origin != "pretrained" or not e.config or e.config.preset.startswith("fig11-"):
            continue
        try:
            rows.append(report.summary(run_index.allowed(e.path)))
        except RunError:
            continue
    return pd.DataFrame(rows)


def construction_snapshot(config: TrainConfig, consts: dict[str, float]) -> dict:
    """A and B of the construction that computes the run's yardstick closed form, as a history snapshot."""
    learner = learners.of_construction(config.kind, config.task, consts, config.query_in_keys)
    A, B = models.products({k: np.asarray(v) for k, v in learner.params})
    return {"step": 0, "A": np.asarray(A).tolist(), "B": np.asarray(B).tolist()}


def other_variant(entry: run_index.RunEntry) -> run_index.RunEntry | None:
    """The best run of the same softmax setting with the other `query_in_keys`, if there is one."""
    c = entry.config
    if c is None or c.kind != "softmax":
        return None
    want = not entry.query_in_keys
    runs = [e for e in run_index.matching("softmax", c.d, c.C, c.n, want) if e.query_in_keys == want]
    return runs[0] if runs else None


def variants_table(entries: list[run_index.RunEntry]) -> pd.DataFrame:
    """One row per run: its variant, the constants read off it, its loss, and both eq. 1 yardsticks (their
    constants, their loss on the run's evaluation contexts, the run's final alignment with each)."""
    rows = []
    for e in entries:
        config = e.config
        try:
            history = loaders.read_history(e.path)
        except RunError:
            continue
        if config is None:
            continue
        if not history.get("evals"):
            continue
        last = history["evals"][-1]
        row = {"run": f"{e.origin}/{e.name}", "model": config.variant, "c_sigma": last["c_sigma"],
               "c_eta": last["c_eta"], "eval loss": last["eval_loss"]}
        for method, ys in history.get("yardsticks", {}).items():
            suffix = "" if method == config.yardstick else "_other"
            own = " (its own)" if method == config.yardstick else ""
            name = NAMES[method]
            row[f"{name}{own}: constants"] = ", ".join(f"{k} {v:.3g}" for k, v in ys["best"].items())
            row[f"{name}: loss"] = ys["loss"]
            row[f"{name}: preds diff"] = last.get("preds_diff" + suffix)
            row[f"{name}: cos sim"] = last.get("cos_sim" + suffix)
        rows.append(row)
    return pd.DataFrame(rows)
