"""ui.widgets: `int_in` and `run_id` directly; `from_url`, the task inputs and the run picker through AppTest on
minimal scripts (`AppTest.from_function`), links (query parameters) included: a valid link sets the view, a bad
one opens the default view with a note, and a task that cannot be built is reported, never raised."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from engine.config import TrainConfig
from ui import run_index, widgets

TIMEOUT = 60


def texts(elements) -> str:
    return " | ".join(e.value for e in elements)


# ---------------------------------------------------------------- int_in, run_id


def test_int_in_accepts_integers_in_the_closed_range_only():
    valid = widgets.int_in(2, 20)
    for raw, want in [("2", 2), ("20", 20), ("7", 7), ("+3", 3), ("007", 7), (" 5 ", 5)]:
        assert valid(raw) == want, raw
    for raw in ("1", "21", "-3", "0", "2.0", "3.5", "1e1", "", "two", "0x10", "nan"):
        assert valid(raw) is None, raw
    assert widgets.int_in(0, 0)("0") == 0 and widgets.int_in(0, 0)("1") is None
    assert widgets.int_in(5, 4)("5") is None  # an empty range accepts nothing


def entry(origin: str, name: str, **config) -> run_index.RunEntry:
    cfg = TrainConfig(**{"kind": "softmax", "d": 3, "C": 3, "n": 6, "query_in_keys": False, **config})
    return run_index.RunEntry(name, f"/nowhere/{origin}/{name}", origin, cfg, "finished")


def test_run_id_is_origin_and_folder_name():
    assert widgets.run_id(entry("pretrained", "fast-softmax-d3")) == "pretrained/fast-softmax-d3"
    assert widgets.run_id(entry("runs", "mine")) == "runs/mine"
    listed = run_index.entries()  # the shipped runs (and any of one's own): each id names its run in a link
    assert listed and all(run_index.by_name(widgets.run_id(e)) == e for e in listed)


# ---------------------------------------------------------------- from_url


def from_url_script():
    import streamlit as st

    from ui import widgets

    widgets.from_url("seed", 4, widgets.int_in(0, 10))
    st.text(f"seed={st.session_state['seed']}")


def from_url_app(**query) -> AppTest:
    at = AppTest.from_function(from_url_script, default_timeout=TIMEOUT)
    at.query_params.update(query)
    return at


@pytest.mark.parametrize("query, shown, note", [
    ({}, 4, False), ({"seed": "7"}, 7, False), ({"seed": "0"}, 0, False), ({"seed": "10"}, 10, False),
    ({"seed": "11"}, 4, True), ({"seed": "-1"}, 4, True), ({"seed": "abc"}, 4, True), ({"seed": ""}, 4, True),
])
def test_from_url_takes_a_valid_value_else_the_default_with_a_note(query, shown, note):
    at = from_url_app(**query).run()
    assert not at.exception and at.session_state["seed"] == shown and at.text[0].value == f"seed={shown}"
    if note:
        raw = query["seed"]
        assert texts(at.caption) == f"The link's `seed={raw}` is not valid here: showing seed = 4."
    else:
        assert not at.caption


def test_from_url_keeps_the_value_the_session_already_has():
    at = from_url_app(seed="7")
    at.session_state["seed"] = 2
    at.run()
    assert at.session_state["seed"] == 2 and not at.caption
    at.session_state["seed"] = 9  # a later change in the session is not overwritten by the link
    at.run()
    assert at.session_state["seed"] == 9


# ---------------------------------------------------------------- task inputs


def task_script(with_seed: bool = True):
    import streamlit as st

    from ui import widgets

    task, seed = widgets.task_inputs(d=2, C=5, n=100, with_seed=with_seed)
    st.text(f"task={None if task is None else (task.d, task.C, task.n)} seed={seed}")


def task_app(with_seed: bool = True, **query) -> AppTest:
    at = AppTest.from_function(task_script, default_timeout=TIMEOUT, kwargs={"with_seed": with_seed})
    at.query_params.update(query)
    return at.run()


def shown(at: AppTest) -> str:
    assert not at.exception, [e.value for e in at.exception]
    return at.text[0].value


def test_task_inputs_default_and_from_a_link():
    at = task_app()
    assert shown(at) == "task=(2, 5, 100) seed=0" and not at.error
    assert widgets.TASK_RANGES in texts(at.sidebar.caption)
    assert {w.key for w in at.number_input} == {"d", "C", "n", "seed"}
    at = task_app(d="3", C="4", n="8", seed="9")
    assert shown(at) == "task=(3, 4, 8) seed=9" and not at.error and "not valid" not in texts(at.caption)
    at = task_app(with_seed=False, seed="9")
    assert shown(at) == "task=(2, 5, 100) seed=0" and {w.key for w in at.number_input} == {"d", "C", "n"}


def test_a_link_to_a_task_that_cannot_be_built_is_noted_not_raised():
    at = task_app(d="3", n="101")  # C = 5 by default: 101 is not divisible by it
    assert not at.exception
    note = texts(at.caption)
    assert "The link's task cannot be built (n must be divisible by C" in note
    assert "showing d = 2, C = 5, n = 100" in note


@pytest.mark.parametrize("query", [{"d": "3", "n": "101"}, {"d": "3", "C": "4", "n": "6"}, {"n": "7"}, {"d": "1"},
                                   {"C": "1"}])
def test_a_link_to_a_task_that_cannot_be_built_opens_the_default_task(query):
    at = task_app(**query)
    assert shown(at) == "task=(2, 5, 100) seed=0" and not at.error  # the whole link's task gives way


@pytest.mark.parametrize("query", [{"d": "21"}, {"C": "11"}, {"n": "1001"}, {"d": "x"}, {"seed": "1000001"}])
def test_a_link_value_out_of_range_opens_the_default_with_a_note(query):
    at = task_app(**query)
    assert shown(at) == "task=(2, 5, 100) seed=0" and not at.error
    (key, raw), = query.items()
    assert f"`{key}={raw}` is not valid here" in texts(at.caption)


@pytest.mark.parametrize("key, value, message", [
    ("n", 101, "n must be divisible by C"),
    ("d", 1, "d must be at least 2"),
    ("C", 1, "C must be at least 2"),
    ("n", 3, "n must be at least C=5"),
])
def test_a_typed_task_that_cannot_be_built_is_reported_not_raised(key, value, message):
    at = task_app()
    at.number_input(key=key).set_value(value).run()
    assert shown(at) == "task=None seed=0"
    (err,) = at.error
    assert err.value.startswith("**This task cannot be built.**") and message in err.value
    at.number_input(key=key).set_value({"n": 100, "d": 2, "C": 5}[key]).run()  # fixed: the task is back
    assert shown(at) == "task=(2, 5, 100) seed=0" and not at.error


def test_a_typed_task_is_built_as_typed():
    at = task_app()
    at.number_input(key="C").set_value(4).run()
    at.number_input(key="d").set_value(7).run()
    assert shown(at) == "task=(7, 4, 100) seed=0" and not at.error


# ---------------------------------------------------------------- run picker


def picker_script(entries, url: bool = False, optional: bool = False, default=()):
    import streamlit as st

    from ui import widgets

    got = widgets.run_picker("Run", "run", entries, default=default, url=url, optional=optional)
    st.text("none" if got is None else widgets.run_id(got))


ENTRIES = [entry("pretrained", "a"), entry("pretrained", "b", d=2), entry("runs", "c", kind="linear")]


def picker(query: dict | None = None, **kwargs) -> AppTest:
    at = AppTest.from_function(picker_script, default_timeout=TIMEOUT, args=(ENTRIES,), kwargs=kwargs)
    at.query_params.update(query or {})
    return at.run()


def test_run_picker_offers_run_ids_shown_by_label():
    at = picker(default="runs/c")
    assert shown(at) == "runs/c"
    box = at.selectbox(key="run")
    assert box.options == [e.label for e in ENTRIES]  # shown by label, chosen by id
    box.set_value("pretrained/b").run()
    assert shown(at) == "pretrained/b"
    at = picker(optional=True)
    assert shown(at) == "none" and at.selectbox(key="run").value == widgets.NO_RUN


@pytest.mark.parametrize("raw, want, note", [
    ("runs/c", "runs/c", False), ("pretrained/b", "pretrained/b", False),
    ("runs/zz", "pretrained/a", True), ("../../etc", "pretrained/a", True), ("/etc/passwd", "pretrained/a", True),
    ("c", "pretrained/a", True),  # a bare folder name is not a run id
])
def test_run_picker_url_accepts_listed_run_ids_only(raw, want, note):
    at = picker({"run": raw}, url=True)
    assert shown(at) == want
    assert ("is not valid here" in texts(at.caption)) == note
    assert at.session_state["run"] == want


def test_run_picker_url_default_first_and_no_runs():
    at = picker(url=True, default="runs/c")
    assert shown(at) == "runs/c" and at.selectbox(key="run").options[0] == "runs/c"  # the default leads
    at = AppTest.from_function(picker_script, default_timeout=TIMEOUT, args=([],), kwargs={"url": True}).run()
    assert shown(at) == "none" and not at.selectbox
