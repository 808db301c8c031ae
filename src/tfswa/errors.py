"""The error base class of the package, and the one-line form of any error the command line prints."""

from __future__ import annotations


class TfswaError(Exception):
    """A problem the user can fix (bad input, missing file or package, bad option): the CLI prints its message as
    one ``error:`` line, without a traceback. Subclasses also derive from the built-in class they refine."""


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an error's message, or its class name when it has none."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
