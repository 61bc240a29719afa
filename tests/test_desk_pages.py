"""Desk pages from a browser walk: the task inputs' ranges in sight, tables without a raw None, Landscapes keeping
its chosen runs, /home, and the Science page's formulas."""

from __future__ import annotations

from tests.app_support import open_app


# ---------------------------------------------------------------- 5: the task inputs' ranges


def test_task_inputs_show_their_ranges() -> None:
    """A number typed outside a box's range is never applied (the box keeps asking for Enter): the ranges are in
    sight under the inputs and in each box's help, and they are the boxes' own bounds."""
    at = open_app("contexts")
    boxes = {k: at.number_input(key=k) for k in ("d", "C", "n", "seed")}
    note = " ".join(c.value for c in at.sidebar.caption)
    lows = {"d": 2, "C": 2, "n": 1, "seed": 0}  # d and C can be typed as 1, which is then reported, not drawn
    for k, box in boxes.items():
        assert f"{k} {lows[k]} to {int(box.max):,}" in note, (k, note)
    assert "not applied" in note
    for k in ("d", "C", "n"):
        assert f"{lows[k]} to {int(boxes[k].max):,}" in boxes[k].help
