"""Play through training in the browser: a small component that moves the charts' snapshot sliders.

Why here and not on the server: a chart already holds every snapshot of A and B and filters them with its
`snapshot` parameter, so stepping that parameter is all Play has to do. Done by the server, each frame was a
rerun and a resent chart (124 snapshots in ~40 s, the page greyed out); done by the browser it is an `input`
event on the slider Vega bound to the parameter, and no Python runs. With two runs side by side the first
chart's slider is the one control: the others are hidden and follow it at the same fraction of training.
"""

from __future__ import annotations

import streamlit as st

_JS = """
export default function (component) {
  const { data, parentElement } = component;
  const button = parentElement.querySelector('button');
  const note = parentElement.querySelector('.where');
  const sliders = () => Array.from(document.querySelectorAll('[data-testid=stVegaLiteChart] .vega-bind'))
    .filter(b => (b.querySelector('.vega-bind-name') || {}).textContent?.startsWith(data.label))
    .map(b => b.querySelector('input[type=range]')).filter(Boolean);
  const set = (input, v) => { input.value = v; input.dispatchEvent(new Event('input', { bubbles: true })); };
  const follow = (lead) => {  // the others at the lead's fraction of training
    const f = (+lead.value - +lead.min) / ((+lead.max - +lead.min) || 1);
    for (const s of sliders().slice(1)) set(s, Math.round(+s.min + f * (+s.max - +s.min)));
    note.textContent = `snapshot ${lead.value} of ${lead.max}`;
  };
  const tidy = setInterval(() => {  // charts draw after this mounts, and redraw: keep one visible control
    const all = sliders();
    all.slice(1).forEach(s => { s.closest('.vega-bind').style.display = 'none'; });
    if (all[0] && !all[0].dataset.kiclLead) {
      all[0].dataset.kiclLead = '1';
      all[0].addEventListener('input', (e) => { if (e.isTrusted) follow(all[0]); });
    }
  }, 300);
  let timer = null;
  const stop = () => { clearInterval(timer); timer = null; button.textContent = 'Play through training'; };
  button.onclick = () => {
    if (timer) return stop();
    const lead = sliders()[0];
    if (!lead) return;
    if (+lead.value >= +lead.max) set(lead, lead.min);
    button.textContent = 'Pause';
    timer = setInterval(() => {
      if (+lead.value >= +lead.max) return stop();
      set(lead, +lead.value + 1);
      follow(lead);
    }, data.ms);
  };
  return () => { clearInterval(tidy); clearInterval(timer); };
}
"""

_HTML = """<div class="player"><button>Play through training</button><span class="where"></span></div>"""

_CSS = """
.player { display: flex; gap: 12px; align-items: center; font-family: "Source Sans Pro", sans-serif; }
.player button { font-size: 0.95rem; padding: 0.3rem 0.9rem; border-radius: 0.5rem; border: 1px solid #d0d3da;
  background: white; color: #31333f; cursor: pointer; }
.player .where { color: #555; font-size: 0.9rem; }
"""

_component = st.components.v2.component("kicl_snapshot_player", html=_HTML, css=_CSS, js=_JS)


def player(key: str, label: str = "snapshot", ms: int = 80) -> None:
    """Play/Pause for every chart on the page whose bound slider is named `label...`: the first one leads, the
    others follow at the same fraction of training (hidden: one control). `ms` per snapshot."""
    _component(key=key, data={"label": label, "ms": ms}, height=40)
