"""The talk's navigation: a small browser-side component that owns the slide keys.

Why a component and not Streamlit's button shortcuts: a shortcut loses to whatever has focus (an in-chart
slider or radio takes Right and PageDown for itself), and each press reruns the page, so presses made during a
rerun were dropped. Here one listener on the window, in the capture phase, takes Right/Left and a clicker's
PageDown/PageUp before any control sees them, and keeps the slide it is heading for in the browser: every press
moves that target, and the page is asked for the target (not for "one more"), so quick presses all land however
long a rerun takes. The URL stays the source of truth: the page writes `?slide=k` (Streamlit pushes a history
entry), so Back/Forward rerun the page on the slide they name and this component adopts it.

A presenter window (`/talk?presenter=1`) and the audience's window follow each other through a
BroadcastChannel: a key pressed in either moves both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import streamlit as st

KEYS = {"ArrowRight": 1, "PageDown": 1, "ArrowLeft": -1, "PageUp": -1}  # a clicker sends PageDown / PageUp

_JS = """
export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  const s = window.__kiclTalk || (window.__kiclTalk = { target: null, pending: null, seq: 0, tab: Math.random() });
  s.trigger = setTriggerValue;
  s.n = data.n;
  if (s.pending === null || data.ack === s.pending) {  // no press in flight: the page's slide (a link, Back) wins
    const moved = s.target !== null && s.target !== data.slide;
    s.target = data.slide;
    s.pending = null;
    if (moved && s.channel) s.channel.postMessage({ slide: s.target, from: s.tab });
  }
  const root = parentElement.querySelector('.talk-nav');
  const where = root.querySelector('.where');
  const draw = () => {
    where.textContent = `${s.target} / ${s.n}`;
    root.querySelector('.bar').style.width = `${(100 * s.target) / s.n}%`;
    root.querySelector('.back').disabled = s.target <= 1;
    root.querySelector('.next').disabled = s.target >= s.n;
  };
  s.go = (k, fromChannel) => {
    k = Math.min(Math.max(1, k), s.n);
    if (k === s.target) return;
    s.target = k;
    s.seq += 1;
    s.pending = s.seq;
    draw();
    s.trigger('go', { slide: k, seq: s.seq });
    if (!fromChannel && s.channel) s.channel.postMessage({ slide: k, from: s.tab });
  };
  if (!s.channel && 'BroadcastChannel' in window) {
    s.channel = new BroadcastChannel('kicl-talk');
    s.channel.onmessage = (e) => { if (e.data && e.data.from !== s.tab && s.mounted) s.go(e.data.slide, true); };
  }
  const keys = __KEYS__;
  const onKey = (e) => {
    const by = keys[e.key];
    if (by === undefined || e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target;
    const typing = t && (t.isContentEditable || t.tagName === 'TEXTAREA' ||
      (t.tagName === 'INPUT' && !['range', 'radio', 'checkbox', 'button'].includes(t.type)));
    if (typing) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    s.go(s.target + by, false);
  };
  window.addEventListener('keydown', onKey, true);
  root.querySelector('.back').onclick = () => s.go(s.target - 1, false);
  root.querySelector('.next').onclick = () => s.go(s.target + 1, false);
  s.mounted = true;
  draw();
  return () => { window.removeEventListener('keydown', onKey, true); s.mounted = false; };
}
"""

# The navigation's markup and style, shared with the talk's static export (ui.talk_export).
HTML = """
<div class="talk-nav">
  <button class="back" title="Back (Left arrow, PageUp)">&#8249;</button>
  <span class="where"></span>
  <button class="next" title="Next (Right arrow, PageDown)">&#8250;</button>
  <div class="track"><div class="bar"></div></div>
</div>
"""

CSS = """
.talk-nav { display: grid; grid-template-columns: auto 1fr auto; align-items: center; gap: 6px;
  font-family: "Source Sans Pro", sans-serif; }
.talk-nav .where { text-align: center; font-size: 1.25rem; font-weight: 600; color: #31333f; }
.talk-nav button { font-size: 1.6rem; line-height: 1; width: 2.6rem; height: 2.3rem; border-radius: 0.5rem;
  border: 1px solid #d0d3da; background: white; color: #31333f; cursor: pointer; }
.talk-nav button.next { background: #ff4b4b; border-color: #ff4b4b; color: white; }
.talk-nav button:disabled { opacity: 0.35; cursor: default; }
.talk-nav .track { grid-column: 1 / 4; height: 5px; background: #e6e8ee; border-radius: 3px; overflow: hidden; }
.talk-nav .bar { height: 100%; background: #ff4b4b; transition: width 120ms; }
"""

_component = st.components.v2.component(
    "kicl_talk_nav", html=HTML, css=CSS, js=_JS.replace("__KEYS__", json.dumps(KEYS)))


def _take_go() -> None:
    """The press's target, kept for the page run that follows (a trigger lasts one run)."""
    go = st.session_state.get("talk_nav", {}).get("go")
    if isinstance(go, Mapping):
        st.session_state["_talk_go"] = go


def requested() -> Mapping | None:
    """The slide a key press or the partner window asked for in this run ({slide, seq}), or None."""
    return st.session_state.pop("_talk_go", None)


def nav(slide: int, n: int, ack: int | None) -> None:
    """Draw the navigation (back, `k / n`, next, progress) and own the slide keys on this page."""
    _component(key="talk_nav", data={"slide": slide, "n": n, "ack": ack},
               on_go_change=_take_go, height=64)
