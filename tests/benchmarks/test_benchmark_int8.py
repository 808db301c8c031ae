"""benchmarks/int8.py: the ISA it names (its end-to-end run exports several models: run by hand at tiny size,
see the README's export section)."""

from __future__ import annotations

import importlib.util

import pytest

from helpers import REPO


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_int8", REPO / "benchmarks" / "int8.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("flags, isa", [
    ("fpu sse avx2 fma", "avx2"),
    ("avx2 avx_vnni", "avx_vnni"),
    ("avx2 avx512f avx512_vnni avx_vnni", "avx512_vnni"),
    ("avx2 avx512_vnni amx_bf16 amx_tile amx_int8", "amx"),
    ("sse sse2", "other"),
])
def test_cpu_isa_names_the_best_int8_instructions(bench, flags, isa) -> None:
    assert bench.cpu_isa(f"processor\t: 0\nmodel name\t: X\nflags\t\t: {flags}\n") == isa
    assert bench.cpu_isa() in ("avx2", "avx_vnni", "avx512_vnni", "amx", "other")


@pytest.mark.slow
def test_int8_profile_runs_end_to_end_at_tiny_size(tmp_path_factory, tmp_path) -> None:
    """benchmarks/int8_profile.py on the tiny preset: every layout measured, the operator profile shows integer
    kernels for INT8 and none for fp32, and the stages add up to the whole separation."""
    from helpers import synth_corpus

    spec = importlib.util.spec_from_file_location("bench_int8_profile", REPO / "benchmarks" / "int8_profile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    corpus = synth_corpus(tmp_path_factory, "int8-profile", 2, 0, seconds=3.0, seed=3)
    out = tmp_path / "profile.json"
    result = module.main(["--models", "tfswa-resunet-tiny", "--calibration", str(corpus), "--layouts", "qdq-u8",
                          "qop-u8", "--rounds", "1", "--profile-runs", "1", "--song-seconds", "3", "--batch", "1",
                          "--out", str(out)])
    rows = result["models"]["tfswa-resunet-tiny"]
    assert set(rows) == {"fp32", "qdq-u8", "qop-u8"} and out.is_file()
    assert rows["fp32"]["core_speedup"] == 1.0

    def integer(ops: dict) -> bool:
        return any(op.startswith("QLinear") or op.endswith("Integer") or "Quantize" in op for op in ops)

    assert not integer(rows["fp32"]["ops_ms"]) and "MatMul" in "".join(rows["fp32"]["ops_ms"])
    for name in ("qdq-u8", "qop-u8"):
        assert integer(rows[name]["ops_ms"]), rows[name]["ops_ms"]
        assert isinstance(rows[name]["held_snr_db"], float | str)
    for row in rows.values():
        st = row["stages_s"]
        assert st["core"] > 0 and st["stft"] > 0 and st["istft"] > 0 and st["rest"] > -1e-3
        assert abs(st["stft"] + st["core"] + st["istft"] + st["rest"] - st["total"]) < 1e-3
