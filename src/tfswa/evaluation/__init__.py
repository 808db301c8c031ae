"""Evaluation: museval BSS Eval v4 scores, uSDR/cSDR, oracle baselines, reports."""
