"""Bring a place on the page into view: a zero-height component whose script scrolls its own spot to the top.

Why: Streamlit keeps the scroll position across reruns, so after Start, pressed at the bottom of a long form, the
job that just appeared at the top of the Train page stayed out of sight."""

from __future__ import annotations

import streamlit as st

_JS = """
export default function (component) {
  const spot = component.parentElement;
  requestAnimationFrame(() => spot.scrollIntoView({ block: "start", behavior: "instant" }));
}
"""

_component = st.components.v2.component("kicl_scroll_here", js=_JS, isolate_styles=False)


def here(key: str) -> None:
    """Scroll the page so that this spot is at the top of the window (call it on the run that should move)."""
    _component(key=key, data={"key": key}, height=0)
