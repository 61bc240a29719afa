"""The Train page's panels: the config form (a preset, changed field by field, checked) and a run's live
curves (loss with the optimum and where it was reached, c_sigma and c_eta, alignment)."""

from __future__ import annotations

import dataclasses
import time

import altair as alt
import streamlit as st

from engine.closed_form import NAMES
from engine.config import KINDS, PRESETS, SCHEDULES, TrainConfig
from engine.models import INITS
from ui import loaders, run_charts, widgets

DEMO = [k for k in PRESETS if k.startswith("demo-")]  # under a minute: for a talk
FAST = DEMO + sorted((k for k in PRESETS if k.startswith("fast-")),
                     key=lambda k: (PRESETS[k].kind != "softmax", PRESETS[k].d))  # the softmax story first
PAPER = [k for k in PRESETS if not k.startswith(("fast-", "demo-"))]


def config_form() -> TrainConfig | None:
    """A preset, optionally changed field by field; an invalid combination is reported, not raised."""
    preset = st.selectbox("Preset", FAST + PAPER, key="train_preset",
                          help="demo-*: within 1% of the optimum in under a minute (for a talk); fast-*: warmup + "
                               "cosine schedule, minutes on a laptop CPU; paper-*: the paper's recipe (hundreds of "
                               "thousands of steps: hours)")
    base = PRESETS[preset]
    if preset in PAPER:
        st.warning(f"{preset} runs {base.steps:,} steps of batch {base.batch}: hours on a CPU. Lower the steps "
                   "below to try it, or start a fast-* preset.")
    with st.expander("Change the config", expanded=False):
        c1, c2, c3, c4 = st.columns(4)
        kind = c1.selectbox("kind", KINDS, index=KINDS.index(base.kind), key=f"tk_{preset}",
                            help="kernel: RBF kernel attention (width 1 on W_Q q and W_K x), which represents kernel "
                                 "GD (eq. 3)")
        d = c2.number_input("d", 1, 20, base.d, key=f"td_{preset}")
        C = c3.number_input("C", 1, 10, base.C, key=f"tC_{preset}")
        n = c4.number_input("n", 1, 1000, base.n, key=f"tn_{preset}")
        steps = c1.number_input("steps", 1, 10_000_000, base.steps, step=100, key=f"ts_{preset}")
        batch = c2.number_input("batch", 1, 8192, base.batch, step=64, key=f"tb_{preset}")
        lr = c3.number_input("learning rate", 1e-7, 1.0, base.lr, format="%.2e", key=f"tl_{preset}")
        schedule = c4.selectbox("schedule", SCHEDULES, index=SCHEDULES.index(base.schedule), key=f"tsch_{preset}")
        warmup = c1.number_input("warmup steps", 0, 1_000_000, base.warmup, key=f"tw_{preset}")
        clip = c2.number_input("gradient clipping", 1e-6, 100.0, base.clip, format="%.0e", key=f"tc_{preset}")
        init_scale = c3.number_input("init scale", 1e-6, 10.0, base.init_scale, format="%.0e", key=f"ti_{preset}")
        seed = c4.number_input("seed", 0, 10**6, base.seed, key=f"tseed_{preset}")
        eval_every = c1.number_input("evaluate every", 1, 100_000, base.eval_every, key=f"te_{preset}")
        qk_decay = c3.number_input("W_Q, W_K weight decay", 0.0, 10.0, float(base.qk_decay), format="%.2f",
                                   key=f"tqk_{preset}", help="decoupled decay on the query and key matrices only: "
                                   "pushes c_sigma down the flat c_sigma * c_eta valley where the optimum is the GD "
                                   "limit (d = 10)")
        cosine_power = c4.number_input("cosine power", 0.25, 4.0, float(base.cosine_power), step=0.25,
                                       key=f"tcp_{preset}", help="the cosine decay factor raised to this power: "
                                       "2 ends the run at a lower rate, where the optimiser's noise settles")
        init = c1.selectbox("initial weights", list(INITS), index=list(INITS).index(base.init), key=f"tinit_{preset}",
                            help="the paper rescales its initial weights by the init scale, which reads two ways: "
                                 "normal, every entry N(0, scale^2) (the default, every shipped run); "
                                 "variance_scaling, standard deviation sqrt(scale / D), von Oswald et al.'s code. "
                                 "The start decides which algorithm a seed learns (Strategies page)")
        query_in_keys = c2.checkbox("query among the keys", base.query_in_keys, key=f"tq_{preset}",
                                    help="off (the paper's model, as its numbers indicate: docs/science.md "
                                         "section 2): the query attends to the n context points only and eq. 1 is "
                                         "the yardstick; on: it attends to itself too, and eq. 1 self-key is")
    try:
        config = dataclasses.replace(base, kind=kind, d=int(d), C=int(C), n=int(n), steps=int(steps),
                                     batch=int(batch), lr=float(lr), schedule=schedule, warmup=int(warmup),
                                     clip=float(clip), init_scale=float(init_scale), seed=int(seed),
                                     eval_every=int(eval_every), query_in_keys=bool(query_in_keys),
                                     qk_decay=float(qk_decay), cosine_power=float(cosine_power), init=init)
    except ValueError as e:
        st.error(f"**This config cannot be trained.** {e}")
        return None
    changed = changed_fields(config, base)
    if changed:
        config = dataclasses.replace(config, preset=CUSTOM)
        st.caption(f"Saved as preset **{CUSTOM}**: {', '.join(changed)} differ from {preset}. (Another seed or "
                   f"number of steps alone keeps the preset's name, as the command line's --seed and --steps do.)")
    return config


CUSTOM = "custom"  # the preset recorded for a run whose recipe is no preset's
KEEPS_PRESET = ("seed", "steps", "preset")  # a preset's recipe at another seed or length is still that preset


def changed_fields(config: TrainConfig, base: TrainConfig) -> list[str]:
    """The fields of `config` that make it another recipe than the preset `base`."""
    return [f.name for f in dataclasses.fields(config)
            if f.name not in KEEPS_PRESET and getattr(config, f.name) != getattr(base, f.name)]


JOB_CARD_PX = 788  # a job card's inner width on the Train page at 1280 px with the sidebar open (Chromium)

# what a run of each kind reads off its weights and draws through training
CONSTANTS = {"softmax": ("c_sigma", "c_eta"), "kernel": ("sigma2", "eta")}


LIVE_REDRAW_S = 4.0  # a running job's curves are rebuilt at most this often (its status text at every poll) ...
LIVE_WEIGHTS_S = 12.0  # ... and its weights, the costliest chart, at most this often


def shown_count(key: str, available: int, running: bool, every_s: float) -> int:
    """How many items of a growing list (evaluations, snapshots) a live chart shows: all of them once the job
    has stopped or `every_s` has passed since the chart last grew, else as many as then, so that the chart comes
    from the spec cache. Building charts in Altair takes the GIL and a core from the training thread: rebuilt at
    every poll, they slowed a demo run on 2 cores 2.3x against the command line."""
    drawn = st.session_state.setdefault("live_chart_counts", {})
    now = time.monotonic()
    count, at = drawn.get(key, (0, -every_s))
    if not running or now - at >= every_s or count > available:
        count, at = available, now
        drawn[key] = (count, at)
    return count


def draw_curves(evals: list[dict], yardsticks: dict, config: TrainConfig) -> None:
    """Loss, constants and alignment through training, cached by what they show (a run trained again under the
    same name, to the same step, is not drawn from the first one's charts)."""
    log_step = st.session_state.get("train_log_step", True)
    stamp = "curves|" + loaders.digest([evals, yardsticks, repr(config), log_step])
    for i, build in enumerate(_curve_charts(evals, yardsticks, config, log_step)):
        widgets.chart_only(loaders.live_chart_spec(f"{stamp}|{i}", build))


def _curve_charts(evals: list[dict], yardsticks: dict, config: TrainConfig, log_step: bool) -> list:
    optimum = yardsticks.get(config.yardstick, {}).get("loss")
    label = NAMES[config.yardstick]
    other = next((NAMES[m] for m in yardsticks if m != config.yardstick), None)

    def top() -> alt.HConcatChart:  # one row inside the job's card at 1280 px with the sidebar open (JOB_CARD_PX)
        charts = [run_charts.loss_curve(evals, optimum, f"{label} optimum", width=240, height=200, log_step=log_step)]
        if config.kind in CONSTANTS:
            charts += run_charts.constants_curves([{"run": "this run", **e} for e in evals], width=120, height=200,
                                                  legend=False, names=CONSTANTS[config.kind]).hconcat
        return alt.hconcat(*charts).resolve_scale(color="independent")

    return [top, lambda: run_charts.alignment_curves(evals, label, **({"other_label": other} if other else {}),
                                                     width=170, height=170)]


def gap_text(verdict: dict, config: TrainConfig) -> str:
    """The latest evaluation against the closed form, in words a room can follow as the run trains."""
    if "gap" not in verdict:
        return ""
    return f"; eval loss {verdict['gap']:+.1%} from {NAMES[config.yardstick]}'s optimum" + (
        " (within 1%)" if verdict.get("within_1pct") else "")
