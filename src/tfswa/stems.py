"""Stem names and the rules that derive one stem from others — the one home of these conventions.

- The four MUSDB18 stems, in this order: ``vocals, drums, bass, other``.
- ``no_X`` (demucs' name, what ``--two-stems X`` writes) is the sum of every stem except ``X``.
- ``accompaniment`` (MUSDB18's name) is ``no_vocals``: the sum of every stem except vocals. Evaluation and the
  training data use this name for it; separation writes ``no_vocals``.
- A complement is scored with museval as a pair with its stem (as museval pairs vocals/accompaniment).
- A stem name is a plain name (:func:`check_stem_name`): it becomes a file name, so it never holds a path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypeVar

from tfswa.errors import TfswaError

FOUR_STEMS: tuple[str, ...] = ("vocals", "drums", "bass", "other")
ACCOMPANIMENT = "accompaniment"
_PREFIX = "no_"

MAX_NAME = 64
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")

A = TypeVar("A")


class StemNameError(TfswaError, ValueError):
    """A stem name that is not a plain name, or a list of names with repeats."""


def check_stem_name(name: object, what: str = "stem name") -> str:
    """``name`` if it is a plain stem name, else :class:`StemNameError`.

    Plain: 1 to 64 ASCII letters, digits, ``_`` and ``-``, starting with a letter or digit — so it is safe as a
    file or folder name everywhere a stem is written (no ``/``, ``..``, hidden or absolute names). Every place
    that reads stem names from outside calls this: model configs, the command line, the REST API and streams.
    """
    if not isinstance(name, str):
        raise StemNameError(f"{what} {name!r}: expected a string")
    if len(name) > MAX_NAME or not _PLAIN.fullmatch(name):
        shown = name if len(name) <= MAX_NAME else name[:MAX_NAME] + "…"
        raise StemNameError(f"{what} {shown!r} is not a plain name (1 to {MAX_NAME} letters, digits, _ or -, "
                            "starting with a letter or digit)")
    return name


def check_stem_names(names: Iterable[object], what: str = "stem name") -> tuple[str, ...]:
    """The names as a tuple, each checked by :func:`check_stem_name`; repeats (also differing only in case,
    which one file system folder cannot hold apart) are refused."""
    checked = tuple(check_stem_name(n, what) for n in names)
    seen: dict[str, str] = {}
    for name in checked:
        if name.lower() in seen:
            twice = name if seen[name.lower()] == name else f"{seen[name.lower()]}/{name}"
            raise StemNameError(f"{what} {twice!r} is given twice")
        seen[name.lower()] = name
    return checked


def complement(stem: str) -> str:
    """The name of everything but ``stem``: ``no_<stem>``."""
    return f"{_PREFIX}{stem}"


def complemented(name: str) -> str | None:
    """The stem a complement leaves out (``no_drums`` → ``drums``, ``accompaniment`` → ``vocals``), else None."""
    if name == ACCOMPANIMENT:
        return "vocals"
    if name.startswith(_PREFIX) and len(name) > len(_PREFIX):
        return name[len(_PREFIX):]
    return None


def canonical(name: str) -> str:
    """One name per stem for scoring: ``no_vocals`` is ``accompaniment``; every other name is itself."""
    return ACCOMPANIMENT if name == complement("vocals") else name


def derive(name: str, stems: dict[str, A]) -> A | None:
    """``stems[name]``, or a complement summed from the other stems (None when it cannot be derived).

    ``stems`` must hold the complete set of a song's stems (their sum is the mixture) for a complement to be exact.
    """
    if name in stems:
        return stems[name]
    left_out = complemented(name)
    rest = [a for n, a in stems.items() if n != left_out and complemented(n) is None]
    if left_out is None or left_out not in stems or not rest:
        return None
    total = rest[0]
    for a in rest[1:]:
        total = total + a
    return total


def order_key(name: str) -> tuple[int, str]:
    """Sort key: the four stems in MUSDB18 order, then complements, then any other name alphabetically."""
    if name in FOUR_STEMS:
        return (FOUR_STEMS.index(name), name)
    return (len(FOUR_STEMS) + (0 if complemented(name) else 1), name)


def ordered(names: Iterable[str]) -> list[str]:
    return sorted(names, key=order_key)
