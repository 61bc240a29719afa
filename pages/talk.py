"""Talk: the paper told live, one idea per slide. Right / Left (or a clicker's PageDown / PageUp) move between
slides; the slide number is in the URL (`?slide=k`), so a link opens that slide."""

from __future__ import annotations

import streamlit as st

from engine.runs import RunError
from ui import talk, widgets

widgets.ensure_navigation()
st.set_page_config(initial_sidebar_state="collapsed")
N = len(talk.SLIDES)


def step(by: int) -> None:
    st.session_state["slide"] = min(max(1, int(st.session_state.get("slide", 1)) + by), N)


widgets.from_url("slide", 1, widgets.int_in(1, N))  # a link opens its slide; a bad one slide 1, with a note
head, back, nxt = st.columns([10, 1, 1], vertical_alignment="center")
back.button("Back", on_click=step, args=(-1,), shortcut="Left", key="talk_back", width="stretch",
            help="Left arrow")
nxt.button("Next", on_click=step, args=(1,), shortcut="Right", key="talk_next", width="stretch", type="primary",
           help="Right arrow")
with st.container(height=1, border=False):  # a presentation clicker sends PageDown / PageUp: same moves, hidden
    st.button("next (clicker)", on_click=step, args=(1,), shortcut="PageDown", key="talk_pgdn")
    st.button("back (clicker)", on_click=step, args=(-1,), shortcut="PageUp", key="talk_pgup")
k = int(st.session_state["slide"])
slide = talk.SLIDES[k - 1]
head.markdown(f'<div class="talk-headline">{slide.headline}</div>', unsafe_allow_html=True)
st.markdown("<style>.talk-headline{font-size:2.15rem;font-weight:700;line-height:1.15;margin:0}</style>",
            unsafe_allow_html=True)
try:
    slide.draw()
except (RunError, OSError, KeyError, IndexError, ValueError, ZeroDivisionError) as e:  # a damaged shipped file
    st.warning(f"This slide cannot be drawn here ({type(e).__name__}: {e}). Regenerate the shipped runs with "
               "`bash pretrained/regenerate.sh`.")
where, left, right = st.columns([1, 8, 5], vertical_alignment="center")
where.markdown(f"**{k} / {N}**")
left.select_slider("slide", options=list(range(1, N + 1)), key="slide", bind="query-params",
                   label_visibility="collapsed")
with right.expander("Speaker note"):
    st.markdown(slide.note)
