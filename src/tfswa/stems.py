"""Stem names and the rules that derive one stem from others — the one home of these conventions.

- The four MUSDB18 stems, in this order: ``vocals, drums, bass, other``.
- ``no_X`` (demucs' name, what ``--two-stems X`` writes) is the sum of every stem except ``X``.
- ``accompaniment`` (MUSDB18's name) is ``no_vocals``: the sum of every stem except vocals. Evaluation and the
  training data use this name for it; separation writes ``no_vocals``.
- A complement is scored with museval as a pair with its stem (as museval pairs vocals/accompaniment).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

FOUR_STEMS: tuple[str, ...] = ("vocals", "drums", "bass", "other")
ACCOMPANIMENT = "accompaniment"
_PREFIX = "no_"

A = TypeVar("A")


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
