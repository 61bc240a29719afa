"""The talk as a static folder, for a venue's laptop with no Python, no server and no network:

    .venv/bin/python -m ui.talk_export --out talk-export

writes `index.html`, the ten slides of `ui.talk.SLIDES` (headline, chart, captions, the speaker note behind N)
built from the shipped runs by the same builders as the Talk page, with Vega, Vega-Lite and vega-embed bundled once
in the page (`vl_convert.javascript_bundle`), so every in-chart control (the query, the snapshot slider, the
sphere's rotation) runs in the browser and no request leaves the page; keys and a clicker move the slides, and
`index.html#slide=5` opens slide 5. Beside it, `slides/slide-k.png`: each slide's chart under its headline, a
backup for a projector that will not open a browser (`vl_convert.vegalite_to_png`, offline too).

Streamlit is not needed to run this: the loaders' caches work outside a server (in memory, for this process).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import gzip
import html
import json
import re
import sys
from pathlib import Path

from ui import specs, talk_nav

PAGE_SIZE = (1280, 720)  # a projector's: the slides are laid out for it, and zoomed to fit any other window
PNG_SCALE = 1.0  # the charts' own size: the backup PNGs stay small
PNG_DIR = "slides"
FONT = '"Source Sans Pro", "Source Sans 3", "Segoe UI", Roboto, Helvetica, Arial, sans-serif'
INK, MUTED, GRID = "#31333f", "#55586a", "#e6e9ef"

# Streamlit's chart theme in the parts the slides show (its frontend lays it under every chart of the app; a page of
# our own must say it): titles at the start, no ticks, domain lines or frames, quiet grid. Labels a shade darker
# than the app's grey, for a room. The slides' own config (`talk.ROOM_CONFIG`, a chart's legend) goes over it.
APP_THEME = {
    "font": FONT,
    "title": {"anchor": "start", "align": "left", "fontWeight": 600, "color": INK, "subtitleColor": MUTED,
              "offset": 16},
    "axis": {"labelColor": MUTED, "titleColor": MUTED, "titleFontWeight": "normal", "ticks": False, "domain": False,
             "gridColor": GRID, "labelPadding": 8, "titlePadding": 12, "labelFlush": True, "labelOverlap": True},
    "legend": {"labelColor": MUTED, "titleColor": MUTED, "titleFontWeight": "normal", "titlePadding": 8,
               "columnPadding": 8, "rowPadding": 2, "padding": 8},
    "header": {"labelColor": MUTED, "titleColor": MUTED, "titleFontWeight": "normal"},
    "view": {"stroke": "transparent", "strokeWidth": 0},
}

_CSS = """
html, body { margin: 0; height: 100%; overflow: hidden; background: #262730; }
body { display: flex; align-items: center; justify-content: center;
  font-family: "Source Sans Pro", "Source Sans 3", "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #31333f; }
#stage { position: relative; width: 1280px; height: 720px; background: white; overflow: hidden;
  box-sizing: border-box; padding: 18px 40px 10px; }
.slide[hidden] { display: none; }
.headline { font-size: 2.1rem; font-weight: 700; line-height: 1.15; margin: 4px 230px 14px 0; min-height: 2.3em;
  display: flex; align-items: center; }
.chart .vega-embed { display: inline-block; }
.chart .vega-embed .vega-actions, .chart .vega-embed details { display: none !important; }
.chart .vega-bindings { font-size: 15px; margin-top: 6px; color: #55586a; }
.chart .vega-bind { margin: 2px 0; }
.chart .vega-bind-name { display: inline-block; min-width: 11em; margin-right: 10px; }
.chart input[type=range] { accent-color: #ff4b4b; width: 190px; vertical-align: middle; }
.chart input[type=radio] { accent-color: #ff4b4b; }
.caption { font-size: 1.02rem; line-height: 1.4; margin: 10px 0 0; max-width: 1200px; }
.notice { font-size: 1.2rem; padding: 14px 18px; border-radius: 8px; background: #e8f0fe; color: #1a3c6e; }
.notice.warn { background: #fff4d6; color: #6b4a00; }
code { font-size: 0.92em; background: #f0f2f6; border-radius: 4px; padding: 0 4px; }
.talk-nav { position: absolute; top: 18px; right: 40px; width: 200px; }
.note { position: absolute; right: 40px; bottom: 8px; max-width: 900px; font-size: 0.8rem; color: #808495;
  text-align: right; }
.note summary { cursor: pointer; list-style: none; }
.note[open] { left: 40px; color: #31333f; background: #f7f8fa; border: 1px solid #d0d3da; border-radius: 8px;
  padding: 10px 16px; text-align: left; box-shadow: 0 2px 12px rgba(0, 0, 0, 0.15); }
.note[open] summary { color: #808495; }
.note div { font-size: 1.45rem; line-height: 1.45; margin-top: 6px; }
"""

_JS = """
(() => {
  const specs = (async () => {  // the charts' specs and data: gzipped JSON in base64 (see talk_export.pack)
    const packed = atob(document.getElementById('kicl-specs').textContent.trim());
    const bytes = Uint8Array.from(packed, (c) => c.charCodeAt(0));
    const json = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return JSON.parse(await new Response(json).text());
  })();
  const sections = Array.from(document.querySelectorAll('.slide'));
  const N = sections.length;
  const nav = document.querySelector('.talk-nav');
  const views = new Map();  // slide number -> its embedding (a promise), made the first time it is shown
  let shown = 0;
  let noteOpen = false;

  const embed = (k) => {
    const el = sections[k - 1] && sections[k - 1].querySelector('.embed');
    if (!el || views.has(k)) return;
    views.set(k, specs.then((all) => vegaEmbed(el, all[k - 1], { actions: false, renderer: 'svg' })).catch((e) => {
      el.textContent = `This chart could not be drawn here (${e}).`;
    }));
  };
  const parse = (hash) => {  // '#slide=k', clamped to the talk; anything else opens slide 1
    const m = /^#slide=(-?[0-9]+)$/.exec(hash);
    return m ? Math.min(Math.max(1, parseInt(m[1], 10)), N) : 1;
  };
  const show = (k) => {
    shown = k;
    sections.forEach((s, i) => { s.hidden = i !== k - 1; });
    nav.querySelector('.where').textContent = `${k} / ${N}`;
    nav.querySelector('.bar').style.width = `${(100 * k) / N}%`;
    nav.querySelector('.back').disabled = k <= 1;
    nav.querySelector('.next').disabled = k >= N;
    sections[k - 1].querySelector('.note').open = noteOpen;
    document.title = `${k} / ${N}: ${sections[k - 1].querySelector('.headline').textContent}`;
    if (location.hash !== `#slide=${k}`) history.replaceState(null, '', `#slide=${k}`);  // a bad link, corrected
    embed(k);
    setTimeout(() => embed(k + 1), 60);  // the next slide drawn ahead, while the room reads this one
  };
  const go = (k) => {  // a step through the talk: one history entry per slide, so Back steps back
    k = Math.min(Math.max(1, k), N);
    if (k === shown) return;
    history.pushState(null, '', `#slide=${k}`);
    show(k);
  };
  const follow = () => { const k = parse(location.hash); if (k !== shown) show(k); };
  window.addEventListener('hashchange', follow);
  window.addEventListener('popstate', follow);

  const KEYS = __KEYS__;  // the Talk page's keys (a clicker sends PageDown/PageUp), and Space
  window.addEventListener('keydown', (e) => {  // capture: the talk's keys win over a focused in-chart control
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target;
    if (t && (t.isContentEditable || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' ||
        (t.tagName === 'INPUT' && !['range', 'radio', 'checkbox', 'button'].includes(t.type)))) return;
    let to = null;
    if (e.key in KEYS) to = shown + KEYS[e.key];
    else if (e.key === 'Home') to = 1;
    else if (e.key === 'End') to = N;
    else if (e.key === 'n' || e.key === 'N') {
      noteOpen = !noteOpen;
      sections[shown - 1].querySelector('.note').open = noteOpen;
    } else return;
    e.preventDefault();
    e.stopImmediatePropagation();
    if (to !== null) go(to);
  }, true);
  sections.forEach((s) => s.querySelector('.note').addEventListener('toggle', (e) => {
    if (s === sections[shown - 1]) noteOpen = e.target.open;
  }));
  nav.querySelector('.back').onclick = () => go(shown - 1);
  nav.querySelector('.next').onclick = () => go(shown + 1);

  const fit = () => {  // the 1280 x 720 layout, zoomed to the window (a full-HD screen, a smaller laptop)
    document.getElementById('stage').style.zoom = Math.min(innerWidth / __W__, innerHeight / __H__);
  };
  window.addEventListener('resize', fit);
  fit();
  show(parse(location.hash));
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; \
style-src 'unsafe-inline'; img-src data: blob:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>__NAV_CSS__
__CSS__</style>
<script>__BUNDLE__</script>
</head>
<body>
<noscript>This talk needs JavaScript to draw its charts; the PNGs in slides/ show them without it.</noscript>
<div id="stage">
__NAV__
__SLIDES__
</div>
<script type="text/plain" id="kicl-specs">__SPECS__</script>
<script>__JS__</script>
</body>
</html>
"""


def inline(text: str) -> str:
    """The slides' Markdown (`code`, **bold**) as HTML, everything else escaped."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)


def _section(k: int, slide, content) -> str:
    """One slide's HTML: headline, the notice or the chart's place, captions, the speaker note."""
    parts = [f'<section class="slide" id="slide-{k}" hidden>', f'<h1 class="headline">{inline(slide.headline)}</h1>']
    if content.notice:
        parts.append(f'<p class="notice{" warn" if content.warn else ""}">{inline(content.notice)}</p>')
    if content.spec is not None:
        parts.append('<div class="chart"><div class="embed"></div></div>')
    parts += [f'<p class="caption">{inline(c)}</p>' for c in content.captions]
    parts.append(f'<details class="note"><summary>speaker note (N)</summary><div>{inline(slide.note)}</div></details>')
    parts.append("</section>")
    return "\n".join(parts)


def _plain(value: object) -> object:
    """numpy's scalars and arrays in a spec, as JSON's numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} in a chart spec cannot be written as JSON")


def pack(specs: list) -> str:
    """The slides' specs as gzipped JSON in base64, for the page to unpack (DecompressionStream): their data as
    rows of records repeat every field name, so this is a tenth of the JSON's size. Holds no '<': it cannot end
    the <script> it sits in."""
    raw = json.dumps(specs, separators=(",", ":"), allow_nan=False, default=_plain).encode()
    return base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")


def unpack(index: Path) -> list:
    """The specs an exported index.html carries (one per slide, None where a slide has no chart)."""
    text = Path(index).read_text(encoding="utf-8")
    packed = re.search(r'<script type="text/plain" id="kicl-specs">([^<]*)</script>', text)
    if packed is None:
        raise ValueError(f"{index} holds no slide specs")
    return json.loads(gzip.decompress(base64.b64decode(packed.group(1))))


def vl_version() -> str | None:
    """The Vega-Lite release Altair writes its specs for (e.g. '6.4'), if vl-convert carries it; else its latest."""
    import altair as alt
    import vl_convert

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return wanted if wanted in vl_convert.get_vegalite_versions() else None


def page(slides: list, contents: list, bundle: str) -> str:
    """index.html: the slides, their specs and the bundled libraries, nothing to fetch."""
    return (_PAGE.replace("__TITLE__", "kernel-icl: the talk")
            .replace("__NAV_CSS__", talk_nav.CSS).replace("__CSS__", _CSS).replace("__NAV__", talk_nav.HTML)
            .replace("__SLIDES__", "\n".join(_section(k, s, c) for k, (s, c) in enumerate(zip(slides, contents), 1)))
            .replace("__SPECS__", pack([c.spec for c in contents]))
            .replace("__JS__", _JS.replace("__KEYS__", json.dumps({**talk_nav.KEYS, " ": 1}))
                 .replace("__W__", str(PAGE_SIZE[0])).replace("__H__", str(PAGE_SIZE[1])))
            .replace("__BUNDLE__", bundle))  # last: the libraries' own text is never searched for placeholders


def themed(spec: dict) -> dict:
    """A slide's spec in the app's look (`APP_THEME` under the spec's own config), its datasets as plain rows."""
    return specs.with_config({**specs.with_rows(spec), "config": APP_THEME}, spec.get("config", {}))


def titled(spec: dict, headline: str, k: int, n: int) -> dict:
    """A slide's chart with its headline (and `k / n`) above it, for a PNG that stands in for the slide. The chart's
    own title, a text or an expression of its params (the snapshot's step), moves under the headline."""
    own = spec.get("title")
    own = own.get("text") if isinstance(own, dict) else own
    where = f"{k} / {n}"
    if isinstance(own, dict) and "expr" in own:
        below = {"expr": f"[{own['expr']}, {json.dumps(where)}]"}
    else:
        below = [*([own] if isinstance(own, str) else own or []), where]
    return {**spec, "title": {"text": headline, "subtitle": below, "anchor": "start", "fontSize": 24,
                              "subtitleFontSize": 15, "offset": 14}}


def export(out: Path, png: bool = True) -> dict:
    """Write the talk into `out` (made if needed): index.html and, with `png`, slides/slide-k.png. Returns what was
    written: {'index': path, 'pngs': [paths], 'bytes': total}."""
    import vl_convert

    from ui import talk

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    slides = talk.SLIDES
    contents = [s.build() for s in slides]
    contents = [dataclasses.replace(c, spec=themed(c.spec)) if c.spec is not None else c for c in contents]
    version = vl_version()
    index = out / "index.html"
    index.write_text(page(slides, contents, vl_convert.javascript_bundle(vl_version=version)), encoding="utf-8")
    pngs = []
    if png:
        (out / PNG_DIR).mkdir(exist_ok=True)
        for k, (slide, content) in enumerate(zip(slides, contents), 1):
            if content.spec is None:
                continue
            path = out / PNG_DIR / f"slide-{k}.png"
            spec = json.dumps(titled(content.spec, slide.headline, k, len(slides)), default=_plain)
            path.write_bytes(vl_convert.vegalite_to_png(spec, vl_version=version, scale=PNG_SCALE))
            pngs.append(path)
    return {"index": index, "pngs": pngs, "bytes": sum(p.stat().st_size for p in (index, *pngs))}


def main(argv: list[str] | None = None) -> int:
    """`python -m ui.talk_export --out DIR`: one line per problem (exit 1), never a traceback."""
    p = argparse.ArgumentParser(prog="python -m ui.talk_export", description="Write the talk as a static folder "
                                "(index.html and a PNG per slide) that opens from file:// with no network.")
    p.add_argument("--out", type=Path, default=Path("talk-export"), help="the folder to write (default talk-export)")
    p.add_argument("--no-png", action="store_true", help="skip the backup PNGs")
    args = p.parse_args(argv)
    from streamlit import logger

    logger.set_log_level("error")  # outside a server the caches say, once each, that they keep to this process
    from ui import loaders

    print(f"device: {loaders.init_runtime()}", file=sys.stderr)
    try:
        got = export(args.out, png=not args.no_png)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {got['index']} and {len(got['pngs'])} PNGs in {args.out / PNG_DIR} ({got['bytes'] / 1e6:.1f} MB); "
          f"open {got['index']} in a browser: Right/Left or a clicker move the slides, N shows the speaker note")
    return 0


if __name__ == "__main__":
    sys.exit(main())
