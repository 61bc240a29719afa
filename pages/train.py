"""Train: start, watch, stop and resume a training run; it lands in runs/ and shows on every page."""

from __future__ import annotations

import dataclasses
import re
import time

import altair as alt
import streamlit as st

from engine.closed_form import NAMES
from engine.config import PRESETS, SCHEDULES, TrainConfig
from engine.runs import RunError
from ui import loaders, run_charts, run_index, widgets
from ui.job_status import job_status

widgets.setup_page("Train", "Train a one-layer attention model on fresh contexts and watch it reach the closed "
                   "form it can represent exactly. Runs are saved in runs/ and appear on every other page.")

registry = loaders.job_registry()
DEMO = [k for k in PRESETS if k.startswith("demo-")]  # under a minute: for a talk
FAST = DEMO + sorted((k for k in PRESETS if k.startswith("fast-")),
                     key=lambda k: (PRESETS[k].kind != "softmax", PRESETS[k].d))  # the softmax story first
PAPER = [k for k in PRESETS if not k.startswith(("fast-", "demo-"))]
NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


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
        kind = c1.selectbox("kind", ["linear", "softmax"], index=["linear", "softmax"].index(base.kind),
                            key=f"tk_{preset}")
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
        query_in_keys = c2.checkbox("query among the keys", base.query_in_keys, key=f"tq_{preset}",
                                    help="off (the paper's model): the query attends to the n context points only "
                                         "and eq. 1 is the yardstick; on: it attends to itself too, and eq. 1 "
                                         "self-key is")
    try:
        return dataclasses.replace(base, kind=kind, d=int(d), C=int(C), n=int(n), steps=int(steps),
                                   batch=int(batch), lr=float(lr), schedule=schedule, warmup=int(warmup),
                                   clip=float(clip), init_scale=float(init_scale), seed=int(seed),
                                   eval_every=int(eval_every), query_in_keys=bool(query_in_keys),
                                   qk_decay=float(qk_decay), cosine_power=float(cosine_power))
    except ValueError as e:
        st.error(f"**This config cannot be trained.** {e}")
        return None


def start(config: TrainConfig, name: str, resume: bool) -> None:
    try:
        registry.submit(config, run_index.USER_RUNS / name, resume=resume)
    except ValueError as e:
        st.error(str(e))


# ---------------------------------------------------------------- new run
st.subheader("New run")
st.toggle("log step axis", True, key="train_log_step", help="a fast descent is not a sliver at the left edge")
config = config_form()
preset_now = st.session_state.get("train_preset", FAST[0])
untouched = st.session_state.get("train_name") in (None, "", st.session_state.get("train_auto_name"))
if untouched and st.session_state.get("train_auto_preset") != preset_now:  # the name follows the preset until edited
    st.session_state["train_name"] = st.session_state["train_auto_name"] = \
        f"{preset_now}-{time.strftime('%m%d-%H%M%S')}"
    st.session_state["train_auto_preset"] = preset_now
name = st.text_input("Run name (a folder in runs/)", key="train_name").strip()
name_error = None
if not NAME_OK.match(name):
    name_error = "Use letters, digits, '.', '_' or '-' (up to 80 characters, starting with a letter or digit)."
elif (run_index.USER_RUNS / name).exists():
    name_error = f"runs/{name} exists already: resume it below, or choose another name."
if name_error:
    st.error(name_error)
if st.button("Start training", type="primary", disabled=config is None or bool(name_error), key="train_start"):
    start(config, name, resume=False)
    st.session_state.pop("train_auto_preset", None)  # the next run gets a fresh name
    del st.session_state["train_name"]
    st.rerun()
if config is not None:
    widgets.download_json(config.to_dict(), f"config_{name}" if not name_error else "config")


# ---------------------------------------------------------------- live jobs
def job_panel(view: dict) -> None:
    """The shared job panel, then live curves and, once done, the verdict."""
    job = registry.jobs[view["name"]]
    c = view["config"]
    title = f"**{view['name']}** ({TrainConfig.from_dict(c).variant}, d={c['d']}, C={c['C']}, n={c['n']})"
    if not job_status(registry, job, view, title, f"stop_{view['name']}",
                      "fitting the closed-form yardstick and compiling (about half a minute) ..."):
        return
    try:
        history = loaders.read_history(view["path"])
    except RunError:
        history = {"evals": view["evals"]}
    evals = history.get("evals") or view["evals"]
    if evals:
        draw_curves(evals, history.get("yardsticks", {}), TrainConfig.from_dict(c))
    verdict = view["verdict"]
    if view["state"] == "finished":
        (st.success if verdict.get("converged") else st.warning)(
            ("Converged. " if verdict.get("converged") else "Not converged. ") + verdict.get("message", ""))
    elif view["state"] == "stopped":
        st.caption("Resume it under Your runs.")


def draw_curves(evals: list[dict], yardsticks: dict, config: TrainConfig) -> None:
    optimum = yardsticks.get(config.yardstick, {}).get("loss")
    label = NAMES[config.yardstick]
    other = next((NAMES[m] for m in yardsticks if m != config.yardstick), None)
    log_step = st.session_state.get("train_log_step", True)
    top = [run_charts.loss_curve(evals, optimum, f"{label} optimum", width=340, height=200, log_step=log_step)]
    if config.kind == "softmax":
        top += run_charts.constants_curves([{"run": "this run", **e} for e in evals], width=170, height=200,
                                           legend=False).hconcat
    widgets.chart_only(alt.hconcat(*top).resolve_scale(color="independent"))
    widgets.chart_only(run_charts.alignment_curves(evals, label, **({"other_label": other} if other else {}),
                                                   width=230, height=170))


active = registry.active()


@st.fragment(run_every=1.5 if active else None)
def live() -> None:
    """Polls the registry; when the last active job ends, reruns the page once to stop polling."""
    jobs = registry.all()
    if not jobs:
        st.caption("No training in this session yet.")
        return
    st.subheader("Training")
    for job in jobs[:3]:
        with st.container(border=True):
            job_panel(job.view())
    if active and not registry.active():
        st.rerun()


live()

# ---------------------------------------------------------------- existing runs
st.subheader("Your runs")
entries = [e for e in run_index.entries() if e.origin == "runs"]
if not entries:
    st.caption("None yet. Runs you start appear here, and on the Compare and Weights pages.")
busy = {j.name for j in registry.active()}
for e in entries:
    cols = st.columns([5, 1])
    mark = " (converged)" if e.converged else ""
    cols[0].markdown(f"`{e.name}`: {e.label.split(': ', 1)[-1]}{mark}" if e.config else f"`{e.name}`: {e.error}")
    if e.config and e.status in ("stopped", "running") and e.name not in busy:
        if cols[1].button("Resume", key=f"resume_{e.name}"):
            try:
                cfg = TrainConfig.from_dict(e.config)
            except (TypeError, ValueError) as err:
                st.error(f"runs/{e.name} has an unreadable config ({err}).")
            else:
                start(cfg, e.name, resume=True)
                st.rerun()
