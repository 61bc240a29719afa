"""Talk: the paper told live, one idea per slide. Right / Left (or a clicker's PageDown / PageUp) move between
slides whatever has focus; the slide number is in the URL (`?slide=k`), so a link opens that slide and
Back / Forward step through the slides seen. `?presenter=1` opens the speaker's window: the note and the next
slide's headline, following the audience's window (and moving it)."""

from __future__ import annotations

import streamlit as st

from engine.runs import RunError
from ui import loaders, talk, talk_nav, widgets


def presenter_view(k: int) -> None:
    """The speaker's window: this slide's note and the next slide's headline."""
    st.markdown(f'<div class="talk-note">{talk.SLIDES[k - 1].note}</div>', unsafe_allow_html=True)
    nxt = talk.SLIDES[k].headline if k < len(talk.SLIDES) else "(the last slide)"
    st.markdown(f'<p class="talk-next"><b>Next:</b> {nxt}</p>', unsafe_allow_html=True)
    st.caption("This window follows the room's (and moves it): keep it on your screen, the talk on the projector. "
               "Keys here change both.")


def draw(content: talk.SlideContent) -> None:
    """A slide's chart and captions, or why it has none here."""
    if content.notice:
        (st.warning if content.warn else st.info)(content.notice)
    if content.spec is not None:
        widgets.chart_only(content.spec)
    for caption in content.captions:
        st.caption(caption)


widgets.ensure_navigation()
st.set_page_config(initial_sidebar_state="collapsed")
st.markdown(talk.ROOM_CSS, unsafe_allow_html=True)
N = len(talk.SLIDES)
presenter = st.query_params.get("presenter") == "1"

k, ack, note = talk.current_slide(talk_nav.requested(), st.query_params.get("slide"), N)
if st.query_params.get("slide") != str(k) and (k != 1 or "slide" in st.query_params):
    st.query_params["slide"] = str(k)  # Streamlit pushes a history entry: Back returns to the slide before
slide = talk.SLIDES[k - 1]

head, nav = st.columns([5, 1], vertical_alignment="center")
head.markdown(f'<div class="talk-headline">{slide.headline}</div>', unsafe_allow_html=True)
with nav:
    talk_nav.nav(k, N, ack)
if note:
    st.caption(note)
if presenter:
    presenter_view(k)
    st.stop()
try:
    draw(loaders.slide_content(slide))
except (RunError, OSError, KeyError, IndexError, ValueError, ZeroDivisionError) as e:  # a damaged shipped file
    st.warning(f"This slide cannot be drawn here ({type(e).__name__}: {e}). Regenerate the shipped runs with "
               "`bash pretrained/regenerate.sh`.")
st.markdown('<a class="talk-presenter" href="talk?presenter=1" target="_blank">presenter view</a>',
            unsafe_allow_html=True)
