"""Atomic file output: write beside the target under a temporary name, then rename over it.

Temporary names are ``.<target name>.tfswa-<pid>-<random><suffix>``: hidden, in the target's folder (so the
rename is atomic), and traceable to the process that made them, so that a later run can remove what a killed one
(``kill -9``, power loss) left behind with :func:`remove_stale`.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

_TAG = re.compile(r"^\..+\.tfswa-(\d+)-[^/]*$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def default_mode(path: str | os.PathLike[str]) -> None:
    """Give ``path`` the mode a plain ``open()`` would have given it (mkstemp makes 0600 files)."""
    os.chmod(path, 0o666 & ~_umask())


def temp_path(target: str | os.PathLike[str], suffix: str = ".tmp") -> Path:
    """Create an empty temporary file beside ``target`` and return its path (the caller removes or renames it)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.tfswa-{os.getpid()}-", suffix=suffix, dir=target.parent)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target`` with the usual permissions, on any
    exception (KeyboardInterrupt and SystemExit included) it is removed and ``target`` is left untouched."""
    target = Path(target)
    tmp = temp_path(target, suffix)
    try:
        yield tmp
        default_mode(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (flushed to disk before the rename)."""
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``target`` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporaries in ``folder`` left by tfswa processes that no longer run; return what was removed."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = _TAG.match(path.name)
        if match and path.is_file() and not _alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed
