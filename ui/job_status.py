"""One status panel for every kind of job (a training run, a seed sweep): heading with a Stop button,
queue position, progress with ETA, and the end state in one sentence. The pages add what is their own
(curves, results) below it."""

from __future__ import annotations

import streamlit as st

from ui.jobs import BEFORE_FIRST_STEP, CANCELLED, JobRegistry, Progress

END_TEXT = {
    "stopped": "Stopped at step {step:,} of {steps:,}.",
    "diverged": "**Diverged.** {message}",
    "failed": "**Failed.** {message}",
}


def job_status(registry: JobRegistry, job: Progress, view: dict, title: str, stop_key: str,
               preparing: str, extra: str = "") -> bool:
    """Draws the panel; returns False while the job is queued (nothing more to draw), True otherwise.

    `preparing` is what the job does before its first step (fitting, compiling); `extra` is appended to the
    progress text while it runs.

    The panel always draws the same slots (heading, progress, end state, traceback), empty where there is nothing
    to say: a browser keeps what a replaced container held until each of its places is drawn over, so a job drawn
    where another job's panel was (a new job above the older ones) would otherwise show that job's progress under
    its own title until the page's run ends."""
    state, step, steps = view["state"], view["step"], view["steps"]
    head = st.columns([5, 1])
    stopping = job.active and view["stop_requested"]
    if job.active and not stopping and head[1].button("Stop", key=stop_key):
        job.stop.set()
        stopping = True  # said at once, in this very run
    head[0].markdown(f"{title}: {'stopping' if stopping else state}" +
                     (f", step {step:,}" if state == "running" else ""))
    if state == "queued":
        st.info(f"Queued (position {max(registry.queue_position(job), 1)}): one job trains at a time on this "
                "machine; it starts when the current one ends.")
        st.empty()
        st.empty()
        return False
    eta = view["eta_s"]
    text = f"step {step:,} / {steps:,}" + (f", about {eta:,.0f} s left" if eta is not None and state == "running"
                                           else "") + extra
    if state == "preparing" or (state == "running" and step == 0):
        text = f"step 0 / {steps:,}: {preparing}"
        if stopping:
            text = f"step 0 / {steps:,}: stopping as soon as the preparation ends (it cannot be cut short) ..."
    st.progress(min(step / max(steps, 1), 1.0), text=text)
    if state in END_TEXT:
        box = st.info if state == "stopped" else st.error
        if state == "stopped" and view["message"] in (BEFORE_FIRST_STEP, CANCELLED):  # no step was taken
            box(view["message"][0].upper() + view["message"][1:] + ".")
        else:
            box(END_TEXT[state].format(step=step, steps=steps, message=view["message"]))
    else:
        st.empty()
    if state == "failed" and view.get("detail"):
        with st.expander("Traceback"):
            st.code(view["detail"])
    else:
        st.empty()
    return True
