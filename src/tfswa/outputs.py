"""Output names of separated stems: the ``--filename`` template, and unique names for every input of a run.

Template fields: ``{track}`` (the input's name without extension, or its folder's name for a MUSDB-style
``mixture.wav``), ``{parent}`` (the input's folder name), ``{stem}``, ``{ext}`` (the output format).
Field values are single path components (``..wav`` gives the track ``_``, not ``.``), every output path is
checked to stay inside the output folder, and no two stems of an input get the same file.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from pathlib import Path

from tfswa.errors import TfswaError

FIELDS = ("track", "parent", "stem", "ext")
DEFAULT_TEMPLATE = "{track}/{stem}.{ext}"


class OutputNameError(TfswaError, ValueError):
    """A ``--filename`` template that cannot name the stems."""


def plain_component(name: str) -> str:
    """``name`` as one visible path component: leading dots become ``_`` (so ``.`` and ``..`` cannot name a folder
    above, and no output is hidden), path separators become ``_``, an empty name is ``_``."""
    name = name.replace("/", "_").replace("\\", "_")
    stripped = name.lstrip(".")
    return "_" * (len(name) - len(stripped)) + stripped or "_"


def track_name(path: Path) -> str:
    """The ``{track}`` of output names: the file's stem, or its folder's name for a MUSDB-style ``mixture.wav``."""
    return plain_component(path.parent.name if path.stem == "mixture" and path.parent.name else path.stem)


def check_template(template: str) -> None:
    """Refuse unknown fields, absolute paths, ``..`` and templates that would write every stem to one file."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise OutputNameError(f"--filename {template!r}: {exc}") from None
    unknown = sorted(fields - set(FIELDS))
    if unknown:
        raise OutputNameError(f"--filename {template!r}: unknown field {{{unknown[0]}}} (fields: "
                              + ", ".join(f"{{{f}}}" for f in FIELDS) + ")")
    if "stem" not in fields:
        raise OutputNameError(f"--filename {template!r} must contain {{stem}} (else every stem gets one name)")
    if template.startswith("/") or ".." in Path(template).parts:
        raise OutputNameError(f"--filename {template!r} must stay inside the output folder")


def output_paths(path: Path, out_dir: Path, template: str, stems: Iterable[str], ext: str,
                 track: str | None = None) -> dict[str, Path]:
    """Stem → output file for the input ``path`` (``track`` overrides the ``{track}`` field)."""
    name = plain_component(track) if track is not None else track_name(path)
    parent = plain_component(path.resolve().parent.name)
    out = {s: Path(out_dir) / template.format(track=name, parent=parent, stem=s, ext=ext) for s in stems}
    named: dict[Path, str] = {}
    for stem, target in out.items():  # a format spec can hide {stem} ({stem:.0}): one file per stem, always
        if (other := named.setdefault(target.resolve(), stem)) != stem:
            raise OutputNameError(f"--filename {template!r} gives the stems {other} and {stem} the same file "
                                  f"{target.name}; each stem needs its own name")
    root = Path(out_dir).resolve()
    for target in out.values():
        if target.resolve() == root or not target.resolve().is_relative_to(root):
            raise OutputNameError(f"{path}: output {target} would not be inside {out_dir}")
    return out


def plan_outputs(inputs: Sequence[Path], out_dir: Path, template: str, stems: Sequence[str], ext: str
                 ) -> tuple[list[tuple[Path, str]], list[str]]:
    """The ``{track}`` name of each input so that no two inputs of one run write the same file.

    An input whose outputs would collide with an earlier input's gets ``<track>-2``, ``<track>-3``, … (first
    free number), with a warning line; ``{parent}`` in the template avoids the suffixes for same-named files
    in different folders. The same file named twice is separated once.
    """
    check_template(template)
    taken: set[Path] = set()
    seen: set[Path] = set()
    plan: list[tuple[Path, str]] = []
    warnings: list[str] = []
    for path in inputs:
        real = path.resolve()
        if real in seen:
            warnings.append(f"{path}: named more than once, separated once")
            continue
        seen.add(real)
        base = track_name(path)
        name, n = base, 1
        if "{track}" not in template and set(output_paths(path, out_dir, template, stems, ext).values()) & taken:
            raise OutputNameError(f"{path}: --filename {template!r} gives it the same files as another input; "
                                  "add {track} to the template")
        while set(output_paths(path, out_dir, template, stems, ext, name).values()) & taken:
            n += 1
            name = f"{base}-{n}"
        targets = output_paths(path, out_dir, template, stems, ext, name)
        if n > 1:
            first = next(iter(targets.values()))
            warnings.append(f"{path}: another input of this run has the same output name; writing "
                            f"{first.parent if len(set(t.parent for t in targets.values())) == 1 else first}")
        taken.update(targets.values())
        plan.append((path, name))
    return plan, warnings
