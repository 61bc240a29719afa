"""kernel-icl explorer: entry point (`streamlit run app.py`). Declares the pages in story order."""

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # on a GPU, take memory as needed, not 75% at start

import streamlit as st  # noqa: E402

from ui import loaders, memory, warmup, widgets  # noqa: E402

widgets.mark_entry()
st.set_page_config(page_title="kernel-icl explorer", layout="wide")
loaders.init_runtime()

# Home is served at the root URL; its own url_path is internal (a default page is never reached by it), which leaves
# /home to a hidden page that sends a visitor who types it to the root.
home = st.Page("pages/home.py", title="Home", default=True, url_path="index")


def home_by_name() -> None:
    st.switch_page(home)


pages = [
    home,
    st.Page("pages/contexts.py", title="Contexts"),
    st.Page("pages/compare.py", title="Compare"),
    st.Page("pages/train.py", title="Train"),
    st.Page("pages/weights.py", title="Weights"),
    st.Page("pages/strategies.py", title="Strategies"),
    st.Page("pages/landscapes.py", title="Landscapes"),
    st.Page("pages/science.py", title="Science"),
    st.Page("pages/talk.py", title="Talk", url_path="talk"),
    st.Page(home_by_name, title="Home", url_path="home", visibility="hidden"),
]
warmup.start()  # once per process, a background thread that lets the first page render first: no one is held up
try:
    st.navigation(pages).run()
finally:  # after every page run: past the memory budget, JAX's compiled programs go (ui/memory.py)
    if memory.keep_within_budget(busy=loaders.job_registry().busy() or warmup.running()):
        warmup.rewarm_demos()  # the demo presets' programs went too: a click on Start must not compile
