"""`/v1/stream` and `tfswa stream`: live separation over a WebSocket against a real server."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
pytest.importorskip("websockets")

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from helpers import REPO
from tfswa.checkpoint import load_model
from tfswa.separator import Separator
from tfswa.serving.client import StreamError, stream_file

DEMO = REPO / "demo" / "demo.flac"
pytestmark = pytest.mark.slow  # starts servers and separates songs


def test_stream_round_trips_a_file_to_the_offline_stems(server, tmp_path) -> None:
    """In fp32 on both sides (bf16 and the defaults: :func:`test_stream_equals_the_cli_in_bf16_and_by_default`)."""
    s = server("--precision", "fp32")
    out = tmp_path / "streamed"
    run = subprocess.run([sys.executable, "-m", "tfswa", "stream", str(DEMO), str(out), "--url",
                          f"ws://127.0.0.1:{s.port}/v1/stream", "--block-ms", "250"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "server RTF" in run.stderr and "latency p50" in run.stderr
    cli = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "tfswa", "separate", str(DEMO), "-o", str(cli), "-q", "--precision", "fp32"],
                   check=True)
    for stem in ("vocals", "drums", "bass", "other"):
        streamed, rate = sf.read(out / "demo" / f"{stem}.wav", dtype="int16")
        offline, rate_offline = sf.read(cli / "tfswa-default" / "demo" / f"{stem}.wav", dtype="int16")
        assert rate == rate_offline and streamed.shape == offline.shape
        # the same chunks as offline, each run on its own (the file's batches of 4 do not change a sample)
        assert np.array_equal(streamed, offline), stem


@pytest.mark.precision
@pytest.mark.parametrize("precision", ["bf16", None])
def test_stream_equals_the_cli_in_bf16_and_by_default(server, tmp_path, precision) -> None:
    """Identical stems in bf16 (once 45 16-bit steps apart where bf16 is native: the stream ran fp32, the CLI's
    ``auto`` bf16, and batches of 1 and 4 round differently in bf16) and with both defaults (CI runs this again
    as the other kind of CPU)."""
    song = tmp_path / "cut.wav"
    x, rate = sf.read(DEMO, dtype="float32", frames=3 * 44100)  # short: bf16 is slow where it is emulated
    sf.write(song, x, rate, subtype="FLOAT")
    args = ["--precision", precision] if precision else []
    s = server(*args)
    report = stream_file(f"ws://127.0.0.1:{s.port}/v1/stream", song, tmp_path / "streamed", block_ms=250)
    cli = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "tfswa", "separate", str(song), "-o", str(cli), "-q", *args], check=True)
    for stem, path in report.stems.items():
        streamed, offline = sf.read(path, dtype="int16")[0], sf.read(cli / "tfswa-default" / "cut" / f"{stem}.wav",
                                                                     dtype="int16")[0]
        assert streamed.shape == offline.shape == (3 * 44100, 2) and np.array_equal(streamed, offline), stem


def test_stream_of_mono_16_bit_pcm_at_48_khz_with_two_stems(server, tmp_path) -> None:
    """The server resamples a 48 kHz stream both ways: the stems equal offline separation of the same file."""
    s = server("--precision", "fp32")
    rate = 48000
    t = np.arange(3 * rate + 17) / rate
    song = tmp_path / "mono.wav"
    sf.write(song, (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32), rate,
             subtype="PCM_16")
    report = stream_file(f"ws://127.0.0.1:{s.port}/v1/stream", song, tmp_path / "out", two_stems="vocals",
                         dtype="s16", block_ms=37, realtime=True, segment=1.0)
    assert sorted(report.stems) == ["no_vocals", "vocals"]
    assert report.ready["sample_rate"] == rate and report.ready["model_sample_rate"] == 44100
    offline = Separator(load_model("tfswa-default"), segment=1.0, two_stems="vocals", precision="fp32").separate_file(
        song, tmp_path / "offline")
    for stem, path in report.stems.items():
        info = sf.info(path)
        assert info.channels == 1 and info.frames == len(t) and info.samplerate == rate
        streamed, ref = sf.read(path, dtype="int16")[0], sf.read(offline[stem], dtype="int16")[0]
        assert np.abs(streamed.astype(int) - ref.astype(int)).max() <= 2, stem
    assert report.wall_seconds >= 3.0  # paced at the audio's rate
    assert report.ready["latency_samples"] == report.ready["segment_samples"] == rate  # the 1 s segment asked for
    assert max(report.latency_ms) < 1000 * report.ready["latency_seconds"] + 900  # lower than the default 2.04 s
    assert 0 < report.server_rtf < 1 and len(report.latency_ms) >= 2


def test_stream_errors_are_one_line_messages(server, tmp_path) -> None:
    s = server("--api-key", "sekret", "--max-seconds", "1")
    url = f"ws://127.0.0.1:{s.port}/v1/stream"
    with connect(url, open_timeout=10) as ws, pytest.raises(ConnectionClosed):  # no key: closed with 4401
        ws.recv(timeout=10)
    assert ws.close_code == 4401

    def first_reply(config, *messages):
        with connect(url + "?key=sekret", open_timeout=10) as ws:
            ws.send(config if isinstance(config, str) else json.dumps(config))
            reply = json.loads(ws.recv(timeout=30))
            for m in messages:
                ws.send(m)
            while reply["type"] != "error":
                msg = ws.recv(timeout=30)
                if isinstance(msg, str):
                    reply = json.loads(msg)
            return reply["message"]

    assert "between 8000 and 192000 Hz" in first_reply({"sample_rate": 1000})
    assert "sample_rate must be an integer" in first_reply({"sample_rate": "fast"})
    assert "unknown stem 'piano'" in first_reply({"stems": ["piano"]})
    assert "JSON object" in first_reply("not json")
    assert "dtype" in first_reply({"dtype": "f64"})
    stft = load_model("tfswa-default").config.stft  # the shortest segment is one STFT frame of the served model
    assert f"segment must be between {stft.n_fft / stft.sample_rate:.3f} and 60 seconds" in first_reply(
        {"segment": 0.001})
    assert "segment must be a number" in first_reply({"segment": "long"})
    assert "unknown setting 'stem'" in first_reply({"stem": ["vocals"]})  # a typo is not dropped: all stems
    assert "channels must be an integer" in first_reply({"channels": 1.5})
    assert "longer than the server's limit of 1 s" in first_reply({}, np.zeros((2 * 44100, 2), "<f4").tobytes())
    assert 'expected binary audio or {"type": "end"}' in first_reply({}, json.dumps({"type": "pause"}))
    song = tmp_path / "a.wav"
    sf.write(song, np.zeros((100, 2), np.float32), 44100)
    with pytest.raises(StreamError, match=r"4401.*missing or wrong API key"):
        stream_file(url, song, tmp_path / "out")
    assert not (tmp_path / "out" / "a").exists() or not any((tmp_path / "out" / "a").iterdir())


def test_stream_settings_refuse_unknown_keys_and_fractional_counts() -> None:
    """Without a server: a typo (``stem``, ``two_stem``) is refused, as REST refuses an unknown form field,
    instead of being dropped and the stream run with every stem."""
    from tfswa.serving.stream import check_settings

    check_settings({"channels": 2, "dtype": "s16", "sample_rate": 48000, "stems": ["vocals"], "wiener_iters": 1,
                    "segment": 1.0, "model": "tfswa-default"})
    check_settings({"two_stems": "vocals"})
    for bad, match in [({"stem": ["vocals"]}, "unknown setting 'stem'"),
                       ({"two_stem": "vocals"}, "unknown setting 'two_stem'"),
                       ({"channels": 1.5}, "channels must be an integer"),
                       ({"channels": True}, "channels must be an integer"),
                       ({"wiener_iters": "2"}, "wiener_iters must be an integer")]:
        with pytest.raises(ValueError, match=match):
            check_settings(bad)
