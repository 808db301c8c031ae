"""Speed of the page's on-device mode: real-time factor of a song separated inside chromium (ONNX Runtime Web,
WebAssembly) with 1 thread and with several (the app's COOP/COEP headers make the page cross-origin isolated, which
multi-threaded WebAssembly needs), next to native ONNX Runtime on the same exported model.

    python benchmarks/page_speed.py [--seconds 30] [--threads 1 2] [--rounds 2] [--onnx DIR] [--json PATH]

The song is the demo repeated to ``--seconds``. RTF = separation time / audio time: in the browser from the model
being loaded to the last stem (STFT, core, iSTFT, overlap-add; not decoding the file, not building the WAVs);
natively ``Separator.separate`` in memory. Each figure is the best of ``--rounds``, rounds interleaved. The JSON
records the CPU, the core count and the load average before and after (a shared machine slows every row alike).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "serving"))
DONE = "document.querySelector('.job.device .state').textContent.match(/^(done|.*cannot|.*error)/)"


def cpu() -> dict:
    """The CPU's name, the core count and the load average now."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    names = [ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")]
    return {"cpu": names[0] if names else platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "load_average": round(os.getloadavg()[0], 2)}


def song(seconds: float, folder: Path) -> Path:
    """The demo repeated to ``seconds`` (a WAV the browser decodes without resampling)."""
    x, rate = sf.read(REPO / "demo" / "demo.flac", dtype="float32", always_2d=True)
    n = round(seconds * rate)
    path = folder / f"song-{seconds:g}s.wav"
    sf.write(path, np.resize(x, (n, x.shape[1])) if n > len(x) else x[:n], rate, subtype="PCM_16")
    return path


def browser_run(page, url: str, path: Path) -> dict:
    """One separation on the page; returns its timings (seconds) and whether the page was isolated."""
    page.goto(url)
    page.wait_for_selector("#mode option[value=vocals]", state="attached")
    page.check("#device")
    page.wait_for_function("document.getElementById('device-note').textContent.includes('downloaded once')",
                           timeout=300_000)
    page.set_input_files("#files", str(path))
    page.click("#go")
    page.wait_for_function(DONE, timeout=1_200_000)
    state = page.inner_text(".job.device .state")
    if not state.startswith("done"):
        raise SystemExit(f"the page failed: {state}")
    timings = json.loads(page.eval_on_selector(".job.device", "e => e.dataset.timings"))
    return {**timings, "isolated": page.evaluate("self.crossOriginIsolated")}


def native_run(onnx: Path, path: Path, threads: int) -> dict:
    """``Separator.separate`` through native ONNX Runtime with ``threads`` intra-op threads."""
    import tfswa

    x, rate = sf.read(path, dtype="float32", always_2d=True)
    sep = tfswa.Separator(tfswa.load_model(onnx, backend="onnxruntime", threads=threads))
    sep.separate(x[: rate * 3].T, rate)  # warm-up: session creation
    started = time.perf_counter()
    sep.separate(x.T, rate)
    return {"separation_s": time.perf_counter() - started, "audio_s": len(x) / rate, "threads": threads}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="song length (default 30 s)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="WASM threads per row (default 1 2)")
    parser.add_argument("--rounds", type=int, default=2, help="best of this many runs per row (default 2)")
    parser.add_argument("--onnx", type=Path, default=None, help="an exported model directory (default: export "
                                                                 "tfswa-default into a temporary folder)")
    parser.add_argument("--no-native", action="store_true", help="leave out the native ONNX Runtime rows")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "page_speed.json")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    from serve_helpers import Server

    from tfswa.serving.ondevice import find_runtime

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Debian chromium (apt-get install chromium)")
    runtime = find_runtime()
    machine_start = cpu()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        onnx = args.onnx
        if onnx is None:
            onnx = work / "onnx"
            subprocess.run([sys.executable, "-m", "tfswa", "export", "tfswa-default", "-o", str(onnx), "-q"],
                           check=True)
        path = song(args.seconds, work)
        server = Server(work / "data", "-m", str(onnx), "--workers", "0").start()
        runs: dict[str, list[dict]] = {}
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                version = browser.version
                for _ in range(args.rounds):
                    for threads in args.threads:
                        page = browser.new_page()
                        runs.setdefault(f"browser-{threads}", []).append(
                            browser_run(page, f"{server.url}/?threads={threads}", path))
                        page.close()
                    if not args.no_native:
                        for threads in args.threads:
                            runs.setdefault(f"native-{threads}", []).append(native_run(onnx, path, threads))
                browser.close()
        finally:
            server.stop()
    rows = []
    for key, results in runs.items():
        best = min(results, key=lambda r: r["separation_s"])
        where, threads = key.split("-")
        row = {"where": "chromium (ONNX Runtime Web, WASM)" if where == "browser" else "native ONNX Runtime",
               "threads": int(threads), "audio_s": best["audio_s"], "separation_s": round(best["separation_s"], 3),
               "rtf": round(best["separation_s"] / best["audio_s"], 3),
               "all_s": [round(r["separation_s"], 3) for r in results]}
        if where == "browser":
            row.update(core_s=round(best["core_s"], 3), core_rtf=round(best["core_s"] / best["audio_s"], 3),
                       load_s=round(best["load_s"], 3), isolated=best["isolated"])
        rows.append(row)
    machine_end = cpu()
    print(f"{machine_start['cpu']}, {machine_start['cores']} cores, load average {machine_start['load_average']} "
          f"-> {machine_end['load_average']}; chromium {version}, onnxruntime-web {runtime.version}")
    print("| where | threads | isolated | audio s | separation s | RTF | core RTF | model load s |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['where']} | {r['threads']} | {r.get('isolated', '–')} | {r['audio_s']:.1f} | "
              f"{r['separation_s']:.2f} | {r['rtf']:.3f} | {r.get('core_rtf', '–')} | {r.get('load_s', '–')} |")
    report = {"machine": {"start": machine_start, "end": machine_end}, "chromium": version,
              "onnxruntime_web": runtime.version, "seconds": args.seconds, "rounds": args.rounds,
              "date": time.strftime("%Y-%m-%d"), "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
