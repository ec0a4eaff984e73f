"""Turning uploaded bytes into model-ready tensors (images for the classifiers)."""
