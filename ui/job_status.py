"""One status panel for every kind of job (a training run, a seed sweep): heading with a Stop button,
queue position, progress with ETA, and the end state in one sentence. The pages add what is their own
(curves, results) below it."""

from __future__ import annotations

import streamlit as st

from ui.jobs import JobRegistry, Progress

END_TEXT = {
    "stopped": "Stopped at step {step:,} of {steps:,}.",
    "diverged": "**Diverged.** {message}",
    "failed": "**Failed.** {message}",
}


def job_status(registry: JobRegistry, job: Progress, view: dict, title: str, stop_key: str,
               preparing: str, extra: str = "") -> bool:
    """Draws the panel; returns False while the job is queued (nothing more to draw), True otherwise.

    `preparing` is what the job does before its first step (fitting, compiling); `extra` is appended to the
    progress text while it runs."""
    state, step, steps = view["state"], view["step"], view["steps"]
    head = st.columns([5, 1])
    head[0].markdown(f"{title}: {state}" + (f", step {step:,}" if state == "running" else ""))
    if job.active and not view["stop_requested"] and head[1].button("Stop", key=stop_key):
        job.stop.set()
    if state == "queued":
        st.info(f"Queued (position {registry.queue_position(job)}): one job trains at a time on this machine; it "
                "starts when the current one ends.")
        return False
    eta = view["eta_s"]
    text = f"step {step:,} / {steps:,}" + (f", about {eta:,.0f} s left" if eta is not None and state == "running"
                                           else "") + extra
    if state == "preparing" or (state == "running" and step == 0):
        text = preparing
    st.progress(min(step / max(steps, 1), 1.0), text=text)
    if state in END_TEXT:
        box = st.info if state == "stopped" else st.error
        box(END_TEXT[state].format(step=step, steps=steps, message=view["message"]))
        if state == "failed" and view.get("detail"):
            with st.expander("Traceback"):
                st.code(view["detail"])
    return True
