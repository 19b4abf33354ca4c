"""Model providers: one adapter per model API, all yielding the same stream of events."""
