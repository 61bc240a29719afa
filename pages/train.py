"""Train: start, watch, stop and resume a training run; it lands in runs/ and shows on every page."""

from __future__ import annotations

import re
import time

import streamlit as st

from engine.config import TrainConfig
from engine.runs import RunError
from ui import loaders, run_index, run_panels, scroll, widgets
from ui.job_status import job_status
from ui.train_panels import FAST, LIVE_REDRAW_S, LIVE_WEIGHTS_S, config_form, draw_curves, gap_text, shown_count

widgets.setup_page("Train", "Train a one-layer attention model on fresh contexts and watch it reach the closed "
                   "form it can represent exactly. Runs are saved in runs/ and appear on every other page.")

registry = loaders.job_registry()
NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def start(config: TrainConfig, name: str, resume: bool) -> None:
    try:
        registry.submit(config, run_index.USER_RUNS / name, resume=resume)
    except ValueError as e:
        st.error(str(e))


# ---------------------------------------------------------------- live jobs, first: after Start, the job is in view
def job_panel(view: dict) -> None:
    """The shared job panel, once done the verdict, then live curves and the weights forming: in fixed slots,
    each drawn over (or emptied) on every poll, so nothing of the panel drawn here before (another job's, when a
    new job comes first) stays under this job's title."""
    job = registry.jobs[view["name"]]
    config = view["config"]
    title = f"**{view['name']}** ({config.variant}, d={config.d}, C={config.C}, n={config.n})"
    shown = job_status(registry, job, view, title, f"stop_{view['name']}",
                       "reading the closed-form yardstick and compiling ...", gap_text(view["verdict"], config))
    verdict = view["verdict"]  # the run's outcome first: it shows before its final charts are built
    if shown and view["state"] == "finished":
        (st.success if verdict.get("converged") else st.warning)(
            ("Converged. " if verdict.get("converged") else "Not converged. ") + verdict.get("message", ""))
    elif shown and view["state"] == "stopped" and job.first_progress is not None:
        st.caption("Resume it under Your runs.")
    else:
        st.empty()
    history = {"evals": view["evals"]}
    if shown:
        try:
            history = loaders.read_history(view["path"])
        except RunError:
            pass
    evals = history.get("evals") or view["evals"]
    running = view["state"] == "running"
    if shown and evals:
        with st.container():
            draw_curves(evals[: shown_count(f"{view['path']}|evals", len(evals), running, LIVE_REDRAW_S)],
                        history.get("yardsticks", {}), config)
    else:
        st.empty()
    if shown and view["state"] in ("running", "stopped", "finished") and history.get("snapshots"):
        snapshots = history["snapshots"]
        with st.container():
            run_panels.live_weights(view["path"], {**history, "snapshots": snapshots[: shown_count(
                f"{view['path']}|snapshots", len(snapshots), running, LIVE_WEIGHTS_S)]}, config)
    else:
        st.empty()


active = registry.active()


@st.fragment(run_every=1.0 if active else None)
def live() -> None:
    """Polls the registry; when the last active job ends, reruns the page once to stop polling."""
    jobs = registry.all()
    if not jobs:
        return
    if st.session_state.pop("train_show_job", False):  # just started: the job in view, however far down Start was
        scroll.here("train_job_in_view")
    st.subheader("Training")
    for job in jobs[:3]:
        with st.container(border=True):
            job_panel(job.view())
    if active and not registry.active():
        st.rerun()


live()
if widgets.read_only_here("Training"):  # a server shared with an audience: no form, no Start, no Resume
    st.stop()

# ---------------------------------------------------------------- new run
st.subheader("New run")
st.toggle("log step axis", True, key="train_log_step", help="a fast descent is not a sliver at the left edge")
config = config_form()
# what the run will be saved as: the preset, or "custom" once its recipe is changed
preset_now = config.preset if config is not None else st.session_state.get("train_preset", FAST[0])
untouched = st.session_state.get("train_name") in (None, "", st.session_state.get("train_auto_name"))
if untouched and st.session_state.get("train_auto_preset") != preset_now:  # the name follows the preset until edited
    st.session_state["train_name"] = st.session_state["train_auto_name"] = \
        f"{preset_now}-{time.strftime('%m%d-%H%M%S')}"
    st.session_state["train_auto_preset"] = preset_now
name = st.text_input("Run name (a folder in runs/)", key="train_name").strip()


def taken(name: str) -> str:
    """Why runs/NAME cannot be started afresh, in the words that fit what is there."""
    if any(j.name == name for j in registry.active()):
        return f"runs/{name} is training now: choose another name."
    entry = next((e for e in run_index.entries() if e.origin == "runs" and e.name == name), None)
    if entry is None or entry.config is None:
        return f"runs/{name} exists already (and is not a readable run): choose another name."
    if entry.status in ("stopped", "running"):  # "running": a run whose server stopped mid-way
        return f"runs/{name} exists already and was stopped at step {entry.step:,}: resume it under Your runs " \
               "below, or choose another name."
    if entry.status == "finished":
        return f"runs/{name} is finished: choose another name, or open it on the Weights or Compare page."
    return f"runs/{name} exists already ({entry.status}): choose another name, or open it on the Weights or " \
           "Compare page."


name_error = None
if not NAME_OK.match(name):
    name_error = "Use letters, digits, '.', '_' or '-' (up to 80 characters, starting with a letter or digit)."
elif (run_index.USER_RUNS / name).exists():
    name_error = taken(name)
if name_error:
    st.error(name_error)
if st.button("Start training", type="primary", disabled=config is None or bool(name_error), key="train_start"):
    start(config, name, resume=False)
    st.session_state["train_show_job"] = True
    st.session_state.pop("train_auto_preset", None)  # the next run gets a fresh name
    del st.session_state["train_name"]
    st.rerun()
if config is not None:
    widgets.download_json(config.to_dict(), f"config_{name}" if not name_error else "config")


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
            start(e.config, e.name, resume=True)
            st.session_state["train_show_job"] = True
            st.rerun()
