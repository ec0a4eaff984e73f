"""Fakes that stand in for the model runtime in unit tests: one home for all of them."""
