"""Science: docs/science.md, the project's account of the task, the models, the closed forms and the metrics,
rendered in the app so that every caption can link to its sections."""

from pathlib import Path

import streamlit as st

from ui import widgets

widgets.ensure_navigation()
st.markdown((Path(__file__).resolve().parent.parent / "docs" / "science.md").read_text())
