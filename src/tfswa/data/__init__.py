"""Datasets: track discovery, random segments, augmentations."""
