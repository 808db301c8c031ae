"""Copy the ONNX Runtime Web files the page uses from web/node_modules into the package (before building a wheel).

A clone runs them from web/node_modules directly (``npm ci --prefix web``); a wheel built after this script holds
them in ``tfswa/serving/static/ort`` (with ``VERSION``), so a pip-installed tfswa serves the page offline.
Usage: npm ci --prefix web && python scripts/vendor_ort.py && python -m build
"""

from __future__ import annotations

import shutil
import sys

from tfswa.serving.ondevice import NPM_RUNTIME, PACKAGE_RUNTIME, RUNTIME_FILES, _version, pinned_version


def main() -> int:
    version = _version(NPM_RUNTIME)
    if version is None or not all((NPM_RUNTIME / n).is_file() for n in RUNTIME_FILES):
        print(f"vendor_ort: {NPM_RUNTIME} is missing: run npm ci --prefix web first", file=sys.stderr)
        return 1
    if version != pinned_version():
        print(f"vendor_ort: web/node_modules holds {version}, web/package.json pins {pinned_version()}: "
              "run npm ci --prefix web", file=sys.stderr)
        return 1
    PACKAGE_RUNTIME.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_FILES:
        shutil.copyfile(NPM_RUNTIME / name, PACKAGE_RUNTIME / name)
        print(f"{(PACKAGE_RUNTIME / name).stat().st_size:>12,} bytes  {name}")
    (PACKAGE_RUNTIME / "VERSION").write_text(version + "\n")
    print(f"ONNX Runtime Web {version} -> {PACKAGE_RUNTIME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
