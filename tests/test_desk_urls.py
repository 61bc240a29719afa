"""Compare keeps its whole view in the URL (a link opens it, every control is bound to a parameter), and says when
a run is far from the closed form its layer can represent. On the shipped runs of pretrained/, read-only."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from engine.closed_form import NAMES
from tests.app_support import open_link
from ui import run_index, widgets


def opened(page: str, **params: str) -> AppTest:
    """The app opened at `/<page>?<params>`, as a link or a reload does."""
    at = open_link(page, **params)
    assert not at.exception, [e.value for e in at.exception]
    return at


def sidebar_controls(at: AppTest) -> list:
    return [w for kind in ("radio", "selectbox", "select_slider", "number_input", "multiselect", "slider")
            for w in at.sidebar.get(kind)]


def text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def test_a_compare_link_opens_its_construction_view() -> None:
    params = {"source": "a construction", "construction": "linear SA", "against": NAMES["adaptive"], "N": "100",
              "seed": "3", "d": "3"}
    at = opened("compare", **params)
    assert at.radio(key="source").value == "a construction"
    assert at.selectbox(key="construction").value == "linear SA"
    assert at.selectbox(key="against").value == "adaptive"
    assert at.select_slider(key="N").value == 100 and at.number_input(key="seed").value == 3
    assert "on 100 fresh contexts of d=3, C=5, n=100" in text(at)
    assert at.query_params == params  # none of them is a default: all stay in the URL
    # every control of the page writes itself into the URL under its key (the browser does the writing)
    controls = sidebar_controls(at)
    assert {w.key for w in controls} == {"source", "construction", "against", "N", "seed", "d", "C", "n"}
    assert all(w.proto.query_param_key == w.key for w in controls), [(w.key, w.proto.query_param_key)
                                                                      for w in controls]


def test_a_compare_link_to_any_listed_run_keeps_it() -> None:
    """The first listed run too: a bound widget leaves its default out of the URL, so that default must be the
    page's own (else the link loses `run=` and a reload opens another run)."""
    first = widgets.run_id(run_index.entries()[0])
    assert first != "pretrained/fast-softmax-d3"
    at = opened("compare", run=first, N="100")
    assert at.selectbox(key="run").value == first and at.query_params.get("run") == first
    assert at.selectbox(key="run").options[0] == "pretrained/fast-softmax-d3"  # the page's default is the widget's
    controls = sidebar_controls(at)
    assert {w.key for w in controls} == {"source", "run", "against", "N", "seed"}
    assert all(w.proto.query_param_key == w.key for w in controls)
    # another run: the closed form starts again from the one that run represents, and the source stays a run
    at.selectbox(key="against").set_value("kernel_gd").run()
    at.selectbox(key="run").set_value("pretrained/fast-softmax-d3-selfkey").run()
    assert not at.exception and at.selectbox(key="against").value == "adaptive_self_key"
    assert at.select_slider(key="N").value == 100


def test_a_link_with_a_bad_value_opens_the_default_with_a_note() -> None:
    at = opened("compare", source="a construction", construction="cubic SA", N="100")
    assert at.selectbox(key="construction").value == "softmax SA"
    assert any("construction=cubic SA" in c.value for c in at.caption)


def test_compare_says_when_a_run_has_not_reached_its_closed_form() -> None:
    """The strategy example fig11-d2-C2-seed0 ends 185% above eq. 1's optimum: Compare says so, with the numbers,
    as the Weights page does (the run's verdict); a converged run gets no such warning."""
    at = opened("compare", run="pretrained/fig11-d2-C2-seed0", N="100")
    warnings = " ".join(w.value for w in at.warning)
    assert "has not converged to eq. 1" in warnings and "+185%" in warnings, warnings
    assert "preds diff" in warnings and f"{float(at.metric[0].value):.3f}" in warnings
    assert any("not converged" in c.value for c in at.caption)  # beside "represented by this layer"
    at = opened("compare", N="100")
    assert at.selectbox(key="run").value == "pretrained/fast-softmax-d3"
    assert not any("has not converged" in w.value for w in at.warning)
