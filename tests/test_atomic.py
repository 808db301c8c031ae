"""Atomic output: permissions of a plain open(), nothing left on failure, stale temporaries of dead runs removed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tfswa.atomic import atomic_path, atomic_write_text, remove_stale, temp_path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_final_files_get_the_umask_mode_not_mkstemps_0600(tmp_path: Path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "hello")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert _mode(tmp_path / "a.txt") == _mode(tmp_path / "plain.txt") == 0o644


def test_failure_keeps_the_old_target_and_leaves_no_temporary(tmp_path: Path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.bin"]


def test_remove_stale_removes_only_temporaries_of_dead_processes(tmp_path: Path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".vocals.wav.tfswa-{pid}-abc.raw.wav"
    stale.write_bytes(b"x")
    mine = temp_path(tmp_path / "drums.wav", ".raw.wav")  # this process is alive: kept
    other = tmp_path / ".notes.txt.swp"  # not ours: kept
    other.write_bytes(b"x")
    assert remove_stale(tmp_path) == [stale]
    assert mine.exists() and other.exists() and not stale.exists()
