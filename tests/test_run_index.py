"""ui.run_index: the app reads runs only from its two run folders. Listing (config, status, verdict, order,
labels), damaged folders listed with their error, `allowed` refusing every path outside the two roots (`..`,
absolute paths, symlinks that leave), `by_name`, `stamp`, and the ranking behind `matching` / `best_of` / `pick`.
The roots are pointed at temporary folders as tests/test_app.py does; one test reads the shipped runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.config import TrainConfig
from engine.runs import PRETRAINED_ROOT, RunError
from ui import run_index


@pytest.fixture
def roots(empty_roots):
    """Empty pretrained/ and runs/ folders of the test's own (nothing else under tmp_path is a root)."""
    return empty_roots


def make_run(root: Path, name: str, kind: str = "softmax", d: int = 3, C: int = 3, n: int = 6,
             status: str | None = "finished", converged: bool = False, step: int = 0, **config) -> Path:
    """A run folder as the run store writes it: config.json and (unless status is None) status.json."""
    path = root / name
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"kind": kind, "d": d, "C": C, "n": n, **config}))
    if status is not None:
        (path / "status.json").write_text(json.dumps({"status": status, "message": "",
                                                      "verdict": {"converged": converged, "step": step}}))
    return path


# ---------------------------------------------------------------- listing


def test_lists_both_roots_with_config_status_and_verdict(roots):
    pre, user = roots
    make_run(pre, "shipped", converged=True, step=900, query_in_keys=False)
    make_run(user, "mine", kind="linear", d=2, C=2, n=4, status="stopped", step=40)
    make_run(user, "fresh", status=None)
    got = {e.name: e for e in run_index.entries()}
    assert set(got) == {"shipped", "mine", "fresh"}
    s, m, f = got["shipped"], got["mine"], got["fresh"]
    assert (s.origin, s.path, s.status, s.converged, s.step, s.error) == ("pretrained", str(pre / "shipped"),
                                                                            "finished", True, 900, "")
    assert s.config == TrainConfig.from_dict({"kind": "softmax", "d": 3, "C": 3, "n": 6, "query_in_keys": False})
    assert (m.origin, m.status, m.converged, m.step, m.config.kind) == ("runs", "stopped", False, 40, "linear")
    assert (f.status, f.converged, f.step) == ("unknown", False, 0)  # no status.json yet: a run just started


def test_only_run_folders_directly_under_the_roots(roots, tmp_path):
    pre, user = roots
    make_run(user, "real")
    (user / "no-config").mkdir()  # a folder without config.json is not a run
    (user / "no-config" / "status.json").write_text("{}")
    (user / "loose.json").write_text("{}")  # files beside the runs are not runs
    make_run(user / "real", "nested")  # a run inside a run is not listed
    make_run(tmp_path, "beside-the-roots")
    assert [e.name for e in run_index.entries()] == ["real"]


def test_order_pretrained_first_unreadable_last_then_by_name(roots):
    pre, user = roots
    for name in ("b", "a"):
        make_run(user, name)
        make_run(pre, name)
    (user / "0-broken").mkdir()
    (user / "0-broken" / "config.json").write_text("{not json")
    assert [(e.origin, e.name) for e in run_index.entries()] == [
        ("pretrained", "a"), ("pretrained", "b"), ("runs", "a"), ("runs", "b"), ("runs", "0-broken")]


@pytest.mark.parametrize("damaged", ["config.json", "status.json"])
def test_a_corrupt_file_lists_the_run_with_its_error(roots, damaged):
    _, user = roots
    path = make_run(user, "broken")
    (path / damaged).write_text("{not json")
    make_run(user, "fine")
    (e,) = [e for e in run_index.entries() if e.name == "broken"]
    assert e.config is None and e.status == "unreadable" and e.error.startswith("JSONDecodeError")
    assert e.label == "runs/broken (unreadable)" and e.variant == "?"
    assert [x.name for x in run_index.entries() if x.config] == ["fine"]  # the others are unaffected


def test_unreadable_config_file_is_listed_not_raised(roots):
    """A config.json that cannot be read (here: not UTF-8) is an error of that run, not of the listing."""
    _, user = roots
    path = make_run(user, "binary")
    (path / "config.json").write_bytes(b"\xff\xfe\x00garbage")
    (e,) = run_index.entries()
    assert e.config is None and e.status == "unreadable" and e.error


@pytest.mark.parametrize("file, text", [("status.json", "[]"), ("status.json", '{"verdict": null}'),
                                        ("config.json", "{}"), ("config.json", '{"kind": "softmax"}')])
def test_valid_json_of_the_wrong_shape_is_listed_as_unreadable(roots, file, text):
    _, user = roots
    path = make_run(user, "odd")
    (path / file).write_text(text)
    (e,) = run_index.entries()
    assert e.error and e.label == "runs/odd (unreadable)"


def test_labels_variants_and_the_query_in_keys_default(roots):
    pre, user = roots
    make_run(user, "lin", kind="linear", d=2, C=2, n=4, status="running", step=1234)
    make_run(user, "old", status="finished")  # saved before query_in_keys existed: the query was among the keys
    make_run(user, "new", query_in_keys=False)
    got = {e.name: e for e in run_index.entries()}
    assert got["lin"].label == "runs/lin: linear d=2 C=2 n=4 [running, step 1,234]"
    assert got["old"].query_in_keys and got["old"].variant == "softmax, query among its keys"
    assert not got["new"].query_in_keys and got["new"].label == "runs/new: softmax d=3 C=3 n=6 [finished]"


# ---------------------------------------------------------------- allowed: nothing outside the two roots


def test_allowed_accepts_run_folders_under_either_root(roots):
    pre, user = roots
    a, b = make_run(pre, "a"), make_run(user, "b")
    assert run_index.allowed(a) == a.resolve()
    assert run_index.allowed(str(b)) == b.resolve()
    assert run_index.allowed(f"{user}/../runs/./b") == b.resolve()  # spelled differently, the same folder


@pytest.mark.parametrize("spelling", [
    "{user}/../../etc", "{user}/../outside", "{user}/b/../../outside", "/etc", "/etc/passwd", "{user}",
    "{pre}", "{user}/b/checkpoints", "{tmp}/outside", "../../etc", "..", "",
])
def test_allowed_refuses_every_path_outside_the_roots(roots, tmp_path, spelling):
    pre, user = roots
    b = make_run(user, "b")
    (b / "checkpoints").mkdir()
    make_run(tmp_path, "outside")
    with pytest.raises(RunError, match="only from pretrained/ and runs/"):
        run_index.allowed(spelling.format(user=user, pre=pre, tmp=tmp_path))


def test_allowed_follows_symlinks_to_where_they_lead(roots, tmp_path):
    pre, user = roots
    outside = make_run(tmp_path, "outside")
    (user / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(RunError):
        run_index.allowed(user / "escape")
    (pre / "to-etc").symlink_to("/etc", target_is_directory=True)
    with pytest.raises(RunError):
        run_index.allowed(pre / "to-etc")
    inside = make_run(pre, "inside")
    (user / "alias").symlink_to(inside, target_is_directory=True)
    assert run_index.allowed(user / "alias") == inside.resolve()  # a link within the roots reads its target


def test_the_listing_does_not_read_through_a_symlink_that_leaves(roots, tmp_path):
    _, user = roots
    (user / "escape").symlink_to(make_run(tmp_path, "outside"), target_is_directory=True)
    assert [e.name for e in run_index.entries() if e.config is not None] == []


def test_every_listed_entry_is_allowed(roots):
    pre, user = roots
    for root, name in ((pre, "p"), (user, "u")):
        make_run(root, name)
    (user / "broken").mkdir()
    (user / "broken" / "config.json").write_text("")
    for e in run_index.entries():
        assert run_index.allowed(e.path) == Path(e.path).resolve()


# ---------------------------------------------------------------- by_name


def test_by_name_finds_listed_runs_only(roots, tmp_path):
    pre, user = roots
    make_run(pre, "same", kind="linear")
    make_run(user, "same", kind="softmax")
    make_run(user, "mine")
    make_run(tmp_path, "outside")
    assert run_index.by_name("runs/same").config.kind == "softmax"
    assert run_index.by_name("pretrained/same").config.kind == "linear"
    assert run_index.by_name("same").origin == "pretrained"  # a bare name: the shipped run first
    assert run_index.by_name("mine").origin == "runs" and run_index.by_name("runs/mine").name == "mine"
    for name in ("pretrained/mine", "outside", "../outside", "runs/../outside", str(tmp_path / "outside"),
                 f"{user}/mine", "runs/", "", "/etc"):
        assert run_index.by_name(name) is None, name


# ---------------------------------------------------------------- stamp


def test_stamp_follows_the_files_a_run_rewrites(roots):
    _, user = roots
    path = user / "r"
    path.mkdir()
    assert run_index.stamp(path) == 0.0  # nothing written yet
    (path / "config.json").write_text("{}")
    os.utime(path / "config.json", (1000.0, 1000.0))
    assert run_index.stamp(path) == 1000.0
    for i, name in enumerate(("history.json", "status.json")):
        (path / name).write_text("{}")
        os.utime(path / name, (2000.0 + i, 2000.0 + i))
    assert run_index.stamp(path) == 2001.0  # the latest of the three
    os.utime(path / "history.json", (3000.0, 3000.0))  # a chunk's history rewrite
    assert run_index.stamp(path) == 3000.0
    (path / "checkpoints").mkdir()
    (path / "other.txt").write_text("x")
    os.utime(path / "other.txt", (9000.0, 9000.0))
    assert run_index.stamp(path) == 3000.0  # only config, history and status count


# ---------------------------------------------------------------- matching, best_of, pick


def test_matching_ranks_pretrained_converged_finished_same_n_and_variant_first(roots):
    pre, user = roots
    make_run(pre, "p-other-n", n=9, converged=True, query_in_keys=False)
    make_run(pre, "p-unconverged", converged=False, query_in_keys=False)
    make_run(pre, "p-best", converged=True, query_in_keys=False)
    make_run(pre, "p-selfkey", converged=True, query_in_keys=True)
    make_run(user, "u-stopped", status="stopped", converged=True, query_in_keys=False)
    make_run(user, "u-finished", converged=False, query_in_keys=False)
    make_run(user, "u-running", status="running", query_in_keys=False)  # not offered: still training
    make_run(user, "u-diverged", status="diverged", query_in_keys=False)
    make_run(user, "u-linear", kind="linear")
    make_run(user, "u-d2", d=2)
    make_run(user, "u-C2", C=2, n=6)
    names = [e.name for e in run_index.matching("softmax", 3, 3, n=6, query_in_keys=False)]
    assert names == ["p-best", "p-selfkey", "p-other-n", "p-unconverged", "u-stopped", "u-finished"]
    assert [e.name for e in run_index.matching("softmax", 3, 3, n=6, query_in_keys=True)][:2] == ["p-selfkey",
                                                                                                  "p-best"]
    assert run_index.pick("softmax", 3, 3, 6).name == "p-best"
    assert run_index.pick("linear", 3, 3) is None  # only a user run, unconverged: offered, not imposed
    assert run_index.pick("softmax", 5, 3) is None  # nothing at that setting


def test_best_of_takes_a_user_run_only_when_converged(roots):
    _, user = roots
    make_run(user, "u", converged=False)
    ranked = run_index.matching("softmax", 3, 3)
    assert [e.name for e in ranked] == ["u"] and run_index.best_of(ranked) is None
    make_run(user, "v", converged=True)
    assert run_index.best_of(run_index.matching("softmax", 3, 3)).name == "v"
    assert run_index.best_of([]) is None


# ---------------------------------------------------------------- the shipped runs


def test_the_shipped_runs_are_listed_readable_and_allowed():
    """The real pretrained/ folder (the default root): every shipped run readable, named and allowed."""
    assert run_index.PRETRAINED == PRETRAINED_ROOT
    shipped = [e for e in run_index.entries() if e.origin == "pretrained"]
    on_disk = sorted(p.name for p in PRETRAINED_ROOT.iterdir() if (p / "config.json").is_file())
    assert sorted(e.name for e in shipped) == on_disk and "fast-softmax-d3" in on_disk
    assert all(e.config is not None and not e.error for e in shipped)
    e = run_index.by_name("pretrained/fast-softmax-d3")
    assert (e.config.kind, e.config.d, e.status) == ("softmax", 3, "finished")
    assert run_index.allowed(e.path) == (PRETRAINED_ROOT / "fast-softmax-d3").resolve()
    assert run_index.stamp(Path(e.path)) > 0
