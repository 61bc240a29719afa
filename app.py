"""kernel-icl explorer: entry point (`streamlit run app.py`)."""

import streamlit as st

st.set_page_config(page_title="kernel-icl explorer", layout="wide")
st.title("kernel-icl explorer")
st.markdown(
    "A one-layer transformer trained to classify in context: **linear** attention learns one step of "
    "gradient descent on its prompt; **softmax** attention learns one step of *kernel* gradient descent "
    "with an RBF kernel and a context-adaptive learning rate."
)
