"""What a `tfswa synth` corpus was rendered with: styles, sound sources per stem, loudness, as a Markdown table.

    python scripts/corpus_summary.py /data/syn [--split train] [--json summary.json]

Reads every ``<split>/<track>/meta.json``; counts songs per style, parts per source kind and stem, distinct
SoundFonts, drum kits and singers, and the produced mixtures' loudness.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np


def summarise(root: Path, split: str) -> dict:
    metas = [json.loads(p.read_text()) for p in sorted((root / split).glob("*/meta.json"))]
    if not metas:
        raise SystemExit(f"{root / split}: no meta.json found")
    parts = [p for m in metas for p in m["parts"]]
    by_stem: dict[str, Counter] = {}
    for p in parts:
        by_stem.setdefault(p["stem"], Counter())[p.get("source", "builtin:?").split(":", 1)[0]] += 1
    names: dict[str, set[str]] = {}
    for p in parts:
        kind, _, name = p.get("source", "builtin:?").partition(":")
        names.setdefault(kind, set()).add(name)
    lufs = [m["production"]["master"].get("lufs_after") for m in metas if m.get("production")]
    lufs = [x for x in lufs if x is not None]
    return {
        "songs": len(metas),
        "styles": dict(Counter(m.get("style", "?") for m in metas).most_common()),
        "parts_by_stem_and_source": {s: dict(c) for s, c in sorted(by_stem.items())},
        "distinct_sources": {k: sorted(v) for k, v in sorted(names.items())},
        "spoken_vocals": sum(bool(m.get("spoken_vocals")) for m in metas),
        "tempo_range": [min(m["tempo"] for m in metas), max(m["tempo"] for m in metas)],
        "lufs": {"min": min(lufs), "median": float(np.median(lufs)), "max": max(lufs)} if lufs else None,
        "heldout": sorted({str(m.get("sounds", {}).get("heldout")) for m in metas}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--split", default="train")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    s = summarise(args.root, args.split)
    print(f"{s['songs']} songs ({args.root}/{args.split}), held-out sounds: {', '.join(s['heldout'])}; tempo "
          f"{s['tempo_range'][0]:.0f}-{s['tempo_range'][1]:.0f} BPM; spoken vocals in {s['spoken_vocals']} songs")
    if s["lufs"]:
        lufs = s["lufs"]
        print(f"loudness (LUFS): min {lufs['min']:.1f}, median {lufs['median']:.1f}, max {lufs['max']:.1f}")
    print("styles: " + ", ".join(f"{k} {v}" for k, v in s["styles"].items()))
    kinds = sorted({k for c in s["parts_by_stem_and_source"].values() for k in c})
    print("\n| stem | " + " | ".join(f"{k} parts" for k in kinds) + " |")
    print("|---|" + "---:|" * len(kinds))
    for stem, c in s["parts_by_stem_and_source"].items():
        print(f"| {stem} | " + " | ".join(str(c.get(k, 0)) for k in kinds) + " |")
    print("\n| source kind | distinct | names |")
    print("|---|---:|---|")
    for kind, names in s["distinct_sources"].items():
        shown = ", ".join(names[:6]) + (f", … ({len(names) - 6} more)" if len(names) > 6 else "")
        print(f"| {kind} | {len(names)} | {shown} |")
    if args.json:
        args.json.write_text(json.dumps(s, indent=1) + "\n")


if __name__ == "__main__":
    main()
