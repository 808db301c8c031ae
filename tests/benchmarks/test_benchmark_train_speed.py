"""benchmarks/train_speed.py at a tiny size: speeds, ratios and the gradient check of every variant."""

from __future__ import annotations

import importlib.util
import json
import multiprocessing as mp
import os
import subprocess
import sys
import threading

import pytest

from helpers import REPO


def test_train_speed_reports_speed_and_gradient_agreement(tmp_path):
    out = tmp_path / "speed.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "train_speed.py"), "--config",
         str(REPO / "configs" / "tfswa-resunet-tiny-synth.yaml"), "--variants", "fp32", "bf16", "--steps", "1",
         "--batch", "1", "--seconds", "0.5", "--json", str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = json.loads(out.read_text())["rows"]
    assert row["model"] == "tfswa-resunet-tiny-synth" and row["parameters"] > 0
    assert row["steps_per_s"]["fp32"] > 0 and row["steps_per_s"]["bf16"] > 0 and row["ratio_to_fp32"]["fp32"] == 1.0
    agree = row["gradient_vs_fp32"]
    assert agree["fp32"] == {"cosine": 1.0, "norm_ratio": 1.0, "zero_gradient_parameters": 0}  # itself
    # bf16 autocast: the same weights and batch, so the same gradient up to bf16 rounding
    assert agree["bf16"]["cosine"] > 0.95 and 0.8 < agree["bf16"]["norm_ratio"] < 1.25, agree
    assert agree["bf16"]["zero_gradient_parameters"] == 0
    assert "gradient cosine 1.000" in proc.stdout


def test_train_speed_refuses_a_bad_config_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "train_speed.py"), "--config",
                           str(tmp_path / "missing.yaml")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("train_speed.py: error:") and len(proc.stderr.strip().splitlines()) == 1


def test_train_speed_times_side_by_side_processes(tmp_path):
    out = tmp_path / "speed.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "train_speed.py"), "--config",
         str(REPO / "configs" / "tfswa-resunet-tiny-synth.yaml"), "--variants", "fp32", "--steps", "1",
         "--batch", "1", "--seconds", "0.5", "--processes", "1", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = json.loads(out.read_text())["rows"]
    side = row["side_by_side"]
    assert side["variant"] == "fp32" and set(side["processes"]) == {"1", "2"}
    cores = os.cpu_count() or 1
    assert side["processes"]["2"]["threads_each"] == max(1, cores // 2)
    assert all(entry["total_steps_per_s"] > 0 for entry in side["processes"].values())
    assert side["processes"]["1"]["ratio"] == 1.0
    assert "2 process(es)" in proc.stdout


def _train_speed_module():
    """benchmarks/train_speed.py imported as a module (its ``_collect``)."""
    spec = importlib.util.spec_from_file_location("train_speed", REPO / "benchmarks" / "train_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_side_by_side_process_that_dies_ends_the_benchmark_instead_of_hanging():
    module = _train_speed_module()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=sys.exit, args=(3,))]
    procs[0].start()
    with pytest.raises(SystemExit, match="side-by-side process failed"):
        module._collect(ctx.Queue(), procs)
    assert not procs[0].is_alive()


def test_a_side_by_side_process_that_ends_without_a_result_ends_the_benchmark():
    module = _train_speed_module()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=sys.exit, args=(0,))]  # exit status 0, nothing put on the queue
    procs[0].start()
    raised: list[BaseException] = []

    def collect() -> None:
        try:
            module._collect(ctx.Queue(), procs)
        except BaseException as exc:  # the SystemExit is the result under test
            raised.append(exc)

    worker = threading.Thread(target=collect, daemon=True)  # a regression hangs: fail instead of waiting
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "_collect waited for a process that had ended"
    assert len(raised) == 1 and isinstance(raised[0], SystemExit)
    assert "ended without a result" in str(raised[0])
