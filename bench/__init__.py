"""Callisto's benchmarks: what the server adds to a model's own time (``python -m bench``)."""
