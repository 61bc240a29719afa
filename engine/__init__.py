"""The engine: tasks, models, closed forms, fitting, training; pure JAX, no Streamlit."""

from engine.runtime import set_cpu_flags

set_cpu_flags()
