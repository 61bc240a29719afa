"""The Compare page's panels that read shipped tables rather than the page's own contexts: the shipped layers at
other context sizes at test time (pretrained/sweeps/context_size.csv), for the page's d."""

from __future__ import annotations

import streamlit as st

from engine import context_size
from ui import compare_charts, loaders, widgets

COMMAND = "python -m engine context_size"


def context_size_panel(d: int) -> None:
    """Loss against n at test time for the shipped layers of dimension d (trained at n = 100) and their closed forms,
    refitted and not, with what the table says in words; a note naming the command where the table is missing."""
    st.subheader("Other context sizes at test time")
    name = context_size.CSV_NAME
    try:
        table = loaders.sweep_table(name, context_size.COLUMNS, ("refitted",))
    except FileNotFoundError:
        st.info(f"No `pretrained/sweeps/{name}` here yet: `{COMMAND}` makes it (about two minutes on two CPU "
                "cores), the shipped layers tested at n = 20 to 400 against their closed forms refitted and not.")
        return
    except (OSError, ValueError) as e:
        st.warning(f"`pretrained/sweeps/{name}` cannot be read ({e}). Regenerate it with `{COMMAND}`.")
        return
    at_d = table[table["d"].astype(int) == int(d)]
    if at_d.empty:
        shown = ", ".join(str(int(v)) for v in sorted(table["d"].unique()))
        st.info(f"The context-size table has the shipped runs' d = {shown}; this view's d = {d} is not among them.")
        return
    key = f"context-size|{d}|{loaders.table_key(table)}"
    widgets.show_chart(loaders.chart_spec(key, lambda: compare_charts.context_size_chart(table, d)),
                       at_d, f"context_size_d{d}")
    st.markdown(context_size.carry_over(table, d))
    st.caption(f"The shipped runs at d = {d} (C = 5), whatever the model above: each layer keeps the weights it "
               "learned at n = 100, and attention takes any number of points. Each closed form is drawn at its "
               "constants fitted at n = 100 (solid) and refitted on fit contexts of each n (dashed). At each n every "
               f"learner sees the same {int(at_d['contexts'].iloc[0]):,} held-out contexts, so the differences "
               "between lines are more precise than the bars (one standard error of each loss) suggest. "
               f"Made by `{COMMAND}`.")
