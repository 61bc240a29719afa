"""The Compare page's context-size panel through AppTest: the chart of the shipped table at the page's d with a row
for every n, the table's own words under it, and a note naming the command where the table is missing or has no
rows at that d."""

from __future__ import annotations

import pytest

from engine import context_size
from tests.app_support import charts_of, open_app
from ui import loaders, run_index

NS = (20, 50, 100, 200, 400)


def made_up_table() -> list[dict]:
    """d = 2 and 3, trained at n = 100: eq. 1 gains more from refitting than GD, the linear layer strays."""
    rows = []
    for d in (2, 3):
        for n in NS:
            away = 0.0 if n == 100 else 1.0
            for learner, kind, refit, loss in (("linear SA (trained)", "trained layer", False, 0.5 + 0.2 * away),
                                               ("GD (eq. 2)", "closed form", False, 0.45),
                                               ("GD (eq. 2)", "closed form", True, 0.45 - 0.01 * away),
                                               ("softmax SA (trained)", "trained layer", False, 0.3),
                                               ("eq. 1", "closed form", False, 0.3),
                                               ("eq. 1", "closed form", True, 0.3 - 0.1 * away)):
                rows.append({"d": d, "n": n, "learner": learner, "kind": kind, "refitted": refit,
                             "fit_n": n if refit else 100, "loss": loss, "loss_se": 0.003, "accuracy": 0.9,
                             "contexts": 4000, "constants": "eta 45"})
    return rows


@pytest.fixture
def pretrained(tmp_path, monkeypatch):
    """An empty pretrained/ of the test's own (the page then opens on a construction at d = 2). The page's yardsticks
    table is left empty: fitting the classic learners takes most of a cold page's time, and test_app.py covers it."""
    monkeypatch.setattr(run_index, "PRETRAINED", tmp_path)
    monkeypatch.setattr(run_index, "USER_RUNS", tmp_path / "no-runs")
    monkeypatch.setattr(loaders, "baseline_rows", lambda *args: [])
    return tmp_path


def test_the_panel_charts_every_n_at_the_pages_d_and_says_what_it_shows(pretrained) -> None:
    table = made_up_table()
    context_size.write(pretrained / "sweeps" / context_size.CSV_NAME, table)
    at = open_app("compare", N=100)
    assert "Other context sizes at test time" in [h.value for h in at.subheader]
    chart = next(c for c in charts_of(at) if "context size n" in str(c))
    drawn = {(r["series"], r["n"]) for rows in chart["datasets"].values() for r in rows if "series" in r}
    assert {n for _, n in drawn} == set(NS) and len(drawn) == 6 * len(NS)  # six lines, each at every n
    assert "d = 2" in str(chart["title"]) and all(r["d"] == 2 for rows in chart["datasets"].values() for r in rows
                                                   if "series" in r)
    words = context_size.carry_over(table, 2)
    assert "worse for eq. 1 than for GD" in words and words in [m.value for m in at.markdown]


def test_the_panel_names_the_command_when_the_table_is_missing_or_lacks_the_d(pretrained) -> None:
    at = open_app("compare", N=100)
    assert any("python -m engine context_size" in i.value for i in at.info)
    assert not any("context size n" in str(c) for c in charts_of(at))
    context_size.write(pretrained / "sweeps" / context_size.CSV_NAME, [r for r in made_up_table() if r["d"] == 3])
    at.run()  # the table is read again once it changes
    assert not at.exception
    assert any("d = 3;" in i.value and "d = 2 is not among them" in i.value for i in at.info)
    assert not any("context size n" in str(c) for c in charts_of(at))
