"""kernel-icl explorer: entry point (`streamlit run app.py`). Declares the pages in story order."""

import streamlit as st

from ui import loaders, widgets

widgets.mark_entry()
st.set_page_config(page_title="kernel-icl explorer", layout="wide")
loaders.init_runtime()

pages = [
    st.Page("pages/home.py", title="Home", default=True),
    st.Page("pages/contexts.py", title="Contexts"),
    st.Page("pages/compare.py", title="Compare"),
    st.Page("pages/train.py", title="Train"),
    st.Page("pages/weights.py", title="Weights"),
    st.Page("pages/strategies.py", title="Strategies"),
    st.Page("pages/landscapes.py", title="Landscapes"),
]
st.navigation(pages).run()
