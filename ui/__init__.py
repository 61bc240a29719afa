"""The app's presentation layer: chart builders, cached engine calls, training jobs, shared widgets."""
