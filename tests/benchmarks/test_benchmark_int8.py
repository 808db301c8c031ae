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
