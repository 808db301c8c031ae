import os
import shutil
import signal
import subprocess
import sys
import time
import wave

import numpy as np
import pytest
import soundfile as sf

from tfswa.audio import StemWriter, clip_scale
from tfswa.checkpoint import save_model
from tfswa.cli import main
from tfswa.models import create_model

STEMS = ("vocals", "drums", "bass", "other")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    model = create_model("tfswa-resunet-tiny", sources=STEMS)
    model.training_steps = 1  # marked trained: these tests exercise I/O, not quality
    return save_model(model, tmp_path_factory.mktemp("models") / "tiny")


def _tone(seconds, sr, channels=2):
    t = np.arange(int(seconds * sr)) / sr
    x = np.stack([0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)], axis=1)
    return x.astype(np.float32)


def _separate(model_dir, out, *inputs, extra=()):
    return main(["separate", *map(str, inputs), "-m", str(model_dir), "-o", str(out), "-q", *extra])


def _outputs(out):
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def test_separates_wav_and_mono_flac_with_input_lengths_and_channels(tmp_path, model_dir):
    sf.write(tmp_path / "song.wav", _tone(2.0, 44100), 44100)
    sf.write(tmp_path / "mono.flac", _tone(1.3, 22050, channels=1), 22050, subtype="PCM_24")
    assert _separate(model_dir, tmp_path / "out", tmp_path / "song.wav", tmp_path / "mono.flac") == 0
    for track, (frames, sr, ch) in {"song": (88200, 44100, 2), "mono": (28665, 22050, 1)}.items():
        for stem in STEMS:
            info = sf.info(tmp_path / "out" / "tiny" / track / f"{stem}.wav")
            assert (info.frames, info.samplerate, info.channels, info.subtype) == (frames, sr, ch, "PCM_16")
    assert not [p for p in _outputs(tmp_path / "out") if "/." in p or p.startswith(".")]


def test_folder_input_formats_and_two_stems(tmp_path, model_dir):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    sf.write(tmp_path / "in" / "sub" / "a.wav", _tone(1.0, 44100), 44100)
    (tmp_path / "in" / "notes.txt").write_text("not audio")
    out = tmp_path / "out"
    assert _separate(model_dir, out, tmp_path / "in", extra=["--two-stems", "vocals", "--format", "flac",
                                                               "--bits", "24"]) == 0
    assert _outputs(out) == ["tiny/a/no_vocals.flac", "tiny/a/vocals.flac"]
    assert sf.info(out / "tiny/a/vocals.flac").subtype == "PCM_24"
    assert _separate(model_dir, out, tmp_path / "in/sub/a.wav", extra=["--format", "mp3", "--stems", "bass",
                                                                       "--filename", "{stem}-{track}.{ext}"]) == 0
    assert sf.info(out / "tiny" / "bass-a.mp3").frames > 0


def test_float_output_is_written_as_float(tmp_path, model_dir):
    sf.write(tmp_path / "a.wav", _tone(0.5, 44100), 44100)
    assert _separate(model_dir, tmp_path / "out", tmp_path / "a.wav", extra=["--bits", "32f"]) == 0
    assert sf.info(tmp_path / "out/tiny/a/vocals.wav").subtype == "FLOAT"


@pytest.mark.parametrize(("mode", "subtype"), [("rescale", "FLOAT"), ("clamp", "FLOAT"), ("none", "FLOAT"),
                                               ("none", "PCM_16")])
def test_clip_modes(tmp_path, mode, subtype):
    loud = np.linspace(-3, 3, 1000, dtype=np.float32)[:, None].repeat(2, axis=1)  # peak 3: clips at full scale
    writer = StemWriter(tmp_path / "t" / "s.wav", 44100, 2)
    writer.write(loud)
    bits = "32f" if subtype == "FLOAT" else "16"
    path = writer.commit("wav", bits, clip_scale(writer.peak, mode), mode)
    y = sf.read(path, dtype="float32")[0]
    if mode == "rescale":  # one gain for everything: shape kept, peak just under full scale
        np.testing.assert_allclose(y, loud * (0.999 / 3), rtol=1e-5, atol=1e-6)
    elif mode == "clamp":
        np.testing.assert_allclose(y, np.clip(loud, -1, 1), atol=1e-6)
    elif subtype == "FLOAT":  # none: float keeps the overshoot
        np.testing.assert_allclose(y, loud, atol=1e-6)
    else:  # none with integer samples: saturates instead of wrapping around
        assert y.max() <= 1 and y[-1, 0] > 0.99 and y[0, 0] < -0.99
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["s.wav"]  # no temporary files left


def _write_bad_inputs(d):
    bad = {}
    bad["empty.wav"] = d / "empty.wav"
    bad["empty.wav"].write_bytes(b"")
    with wave.open(str(d / "zero.wav"), "wb") as w:  # a valid header and no samples
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
    bad["zero.wav"] = d / "zero.wav"
    sf.write(d / "corrupt.wav", _tone(0.5, 44100), 44100)
    data = bytearray((d / "corrupt.wav").read_bytes())
    data[8:16] = b"XXXXXXXX"  # WAVEfmt  magic destroyed
    (d / "corrupt.wav").write_bytes(bytes(data))
    bad["corrupt.wav"] = d / "corrupt.wav"
    (d / "text.wav").write_text("hello, I am not a wave file\n" * 20)
    bad["text.wav"] = d / "text.wav"
    nan = _tone(1.5, 44100)
    nan[50000, 0] = np.nan
    sf.write(d / "nan.wav", nan, 44100, subtype="FLOAT")
    bad["nan.wav"] = d / "nan.wav"
    inf = _tone(0.5, 44100)
    inf[100, 1] = np.inf
    sf.write(d / "inf.wav", inf, 44100, subtype="FLOAT")
    bad["inf.wav"] = d / "inf.wav"
    (d / "emptydir").mkdir()
    bad["emptydir"] = d / "emptydir"
    bad["missing.wav"] = d / "missing.wav"
    return bad


@pytest.mark.slow
def test_each_bad_input_gives_one_line_and_no_output(tmp_path, model_dir):
    bad = _write_bad_inputs(tmp_path)
    for name, path in bad.items():
        out = tmp_path / f"out-{name}"
        proc = subprocess.run([sys.executable, "-m", "tfswa", "separate", str(path), "-m", str(model_dir), "-o",
                               str(out), "-q"], capture_output=True, text=True)
        assert proc.returncode == 1, name
        assert "Traceback" not in proc.stderr, name
        errors = [line for line in proc.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and str(path) in errors[0], (name, proc.stderr)
        assert not out.exists() or not [p for p in out.rglob("*") if p.name != "tiny"], name


def test_bad_inputs_do_not_stop_the_good_ones(tmp_path, model_dir, capsys):
    bad = _write_bad_inputs(tmp_path)
    sf.write(tmp_path / "good.wav", _tone(1.0, 44100), 44100)
    out = tmp_path / "out"
    assert _separate(model_dir, out, bad["nan.wav"], tmp_path / "good.wav", bad["missing.wav"]) == 1
    assert _outputs(out) == [f"tiny/good/{s}.wav" for s in sorted(STEMS)]
    assert "separated 1 of 3 input(s)" in capsys.readouterr().err


@pytest.mark.parametrize(("sr", "channels", "subtype"), [(8000, 2, "PCM_16"), (192000, 2, "PCM_24"),
                                                         (44100, 6, "PCM_24")])
def test_unusual_rates_channels_and_depths_work(tmp_path, model_dir, sr, channels, subtype, capsys):
    sf.write(tmp_path / "x.wav", _tone(0.8, sr, channels), sr, subtype=subtype)
    assert _separate(model_dir, tmp_path / "out", tmp_path / "x.wav") == 0
    info = sf.info(tmp_path / "out/tiny/x/vocals.wav")
    assert (info.frames, info.samplerate, info.channels) == (int(0.8 * sr), sr, min(channels, 2))
    if channels > 2:
        assert "downmixed to stereo" in capsys.readouterr().err


def test_digital_silence_gives_silent_stems(tmp_path, model_dir):
    sf.write(tmp_path / "silence.wav", np.zeros((30000, 2), np.float32), 44100)
    assert _separate(model_dir, tmp_path / "out", tmp_path / "silence.wav") == 0
    for stem in STEMS:
        assert np.abs(sf.read(tmp_path / f"out/tiny/silence/{stem}.wav")[0]).max() == 0


def test_untrained_model_is_refused_without_flag(tmp_path, capsys):
    save_model(create_model("tfswa-resunet-tiny"), tmp_path / "m")
    sf.write(tmp_path / "a.wav", _tone(0.5, 44100), 44100)
    assert main(["separate", str(tmp_path / "a.wav"), "-m", str(tmp_path / "m"), "-o", str(tmp_path / "o")]) == 2
    assert "never trained" in capsys.readouterr().err
    assert main(["separate", str(tmp_path / "a.wav"), "-m", str(tmp_path / "m"), "-o", str(tmp_path / "o"),
                 "--allow-untrained", "-q"]) == 0


def test_m4a_through_ffmpeg(tmp_path, model_dir):
    assert shutil.which("ffmpeg"), "ffmpeg is a test dependency (.ci/run installs it)"
    sf.write(tmp_path / "a.wav", _tone(1.0, 44100), 44100)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(tmp_path / "a.wav"), "-c:a", "aac",
                    str(tmp_path / "a.m4a")], check=True)
    assert _separate(model_dir, tmp_path / "out", tmp_path / "a.m4a") == 0
    assert abs(sf.info(tmp_path / "out/tiny/a/vocals.wav").frames - 44100) < 2048  # aac adds priming samples


def test_m4a_without_ffmpeg_is_a_clear_error(tmp_path, model_dir, monkeypatch, capsys):
    (tmp_path / "a.m4a").write_bytes(b"\0" * 100)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert _separate(model_dir, tmp_path / "out", tmp_path / "a.m4a") == 1
    assert "needs ffmpeg" in capsys.readouterr().err


def _long_song(tmp_path, seconds=240.0):
    path = tmp_path / "long.flac"
    sf.write(path, _tone(seconds, 44100), 44100)
    return path


def _hidden(folder):
    return [p.name for p in folder.rglob(".*")] if folder.exists() else []


def _start(model_dir, song, out):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "tfswa", "separate", str(song), "-m", str(model_dir), "-o",
                             str(out), "-q"], env=env, stderr=subprocess.PIPE, text=True)


def _wait_for_temporaries(proc, out, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any(n.endswith(".raw.wav") for n in _hidden(out)):
            return
        time.sleep(0.05)
    raise AssertionError("separation never started writing")


@pytest.mark.slow
def test_sigterm_cleans_up_like_ctrl_c(tmp_path, model_dir):
    """timeout/docker stop/systemd send SIGTERM: no temporaries, no partial stems, no empty folders."""
    song, out = _long_song(tmp_path), tmp_path / "out"
    proc = _start(model_dir, song, out)
    _wait_for_temporaries(proc, out)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.strip().splitlines()[-1] == "tfswa: terminated"
    assert not out.exists(), _outputs(out) + _hidden(out)


@pytest.mark.slow
def test_rerun_removes_what_kill_9_left(tmp_path, model_dir):
    song, out = _long_song(tmp_path, 120.0), tmp_path / "out"
    proc = _start(model_dir, song, out)
    _wait_for_temporaries(proc, out)
    proc.kill()
    proc.communicate(timeout=60)
    assert any(n.endswith(".raw.wav") for n in _hidden(out))  # SIGKILL cannot be handled
    assert _separate(model_dir, out, song) == 0
    assert _hidden(out) == []
    assert _outputs(out) == [f"tiny/long/{s}.wav" for s in sorted(STEMS)]


def test_stems_get_the_usual_file_mode(tmp_path, model_dir):
    old = os.umask(0o022)
    try:
        sf.write(tmp_path / "song.wav", _tone(1.0, 44100), 44100)
        assert _separate(model_dir, tmp_path / "out", tmp_path / "song.wav") == 0
    finally:
        os.umask(old)
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "out").rglob("*.wav")}
    assert modes == {0o644}


def test_same_named_inputs_never_overwrite_each_other(tmp_path, model_dir, capsys):
    for d in ("dir1", "dir2"):
        (tmp_path / d).mkdir()
        sf.write(tmp_path / d / "song.wav", _tone(1.0, 44100) * (0.5 if d == "dir1" else 1.0), 44100)
    sf.write(tmp_path / "a.wav", _tone(1.0, 44100), 44100)
    sf.write(tmp_path / "a.flac", _tone(0.5, 44100), 44100)
    out = tmp_path / "out"
    assert _separate(model_dir, out, tmp_path / "dir1/song.wav", tmp_path / "dir2/song.wav", tmp_path / "a.wav",
                     tmp_path / "a.flac") == 0
    err = capsys.readouterr().err
    assert err.count("same output name") == 2
    assert {p.parent.name for p in (out / "tiny").rglob("vocals.wav")} == {"song", "song-2", "a", "a-2"}
    assert sf.info(out / "tiny/a-2/vocals.wav").frames == 22050  # the flac, in its own folder
    # {parent} keeps same-named files of different folders apart without suffixes
    assert _separate(model_dir, out, tmp_path / "dir1/song.wav", tmp_path / "dir2/song.wav",
                     extra=["--filename", "{parent}/{track}/{stem}.{ext}"]) == 0
    assert (out / "tiny/dir1/song/bass.wav").is_file() and (out / "tiny/dir2/song/bass.wav").is_file()
    assert "same output name" not in capsys.readouterr().err


def test_outputs_of_an_earlier_run_are_kept_unless_overwrite(tmp_path, model_dir, capsys):
    sf.write(tmp_path / "song.wav", _tone(1.0, 44100), 44100)
    out = tmp_path / "out"
    assert _separate(model_dir, out, tmp_path / "song.wav") == 0
    stem = out / "tiny/song/vocals.wav"
    stem.write_bytes(b"marker")
    capsys.readouterr()
    assert _separate(model_dir, out, tmp_path / "song.wav") == 0
    assert stem.read_bytes() == b"marker" and "--overwrite" in capsys.readouterr().err
    assert _separate(model_dir, out, tmp_path / "song.wav", extra=["--overwrite"]) == 0
    assert sf.info(stem).frames == 44100


@pytest.mark.parametrize("template", ["{stem}.{ext}", "{track}/{nope}.{ext}", "{track}.{ext}", "../{track}/{stem}",
                                      "{track}/{stem:.0}x.{ext}", "{track}/{stem!s:.0}.{ext}"])
def test_bad_filename_templates_are_one_line_errors(tmp_path, model_dir, capsys, template):
    for name in ("x.wav", "y.wav"):
        sf.write(tmp_path / name, _tone(0.5, 44100), 44100)
    assert _separate(model_dir, tmp_path / "out", tmp_path / "x.wav", tmp_path / "y.wav",
                     extra=["--filename", template]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("--filename" in err[0] or "{track}" in err[0])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("extra", "low", "high"), [((), 300, 330), (("--mp3-bitrate", "128"), 120, 135),
                                                     (("--mp3-bitrate", "192", "--mp3-mode", "abr"), 160, 200)])
def test_mp3_bitrate(tmp_path, model_dir, extra, low, high):
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "noise.wav", (0.1 * rng.standard_normal((44100 * 4, 2))).astype(np.float32), 44100)
    out = tmp_path / "out"
    assert _separate(model_dir, out, tmp_path / "noise.wav", extra=["--format", "mp3", *extra]) == 0
    for path in (out / "tiny" / "noise").glob("*.mp3"):
        kbps = path.stat().st_size * 8 / sf.info(path).duration / 1000
        assert low <= kbps <= high, (path.name, kbps)


def test_truncated_wav_warns_or_is_refused_with_strict(tmp_path, model_dir, capsys):
    sf.write(tmp_path / "full.wav", _tone(6.0, 44100), 44100, subtype="PCM_16")
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: 44 + 44100 * 2 * 2 * 2])  # header says 6 s, 2 s of samples
    out = tmp_path / "out"
    assert _separate(model_dir, out, tmp_path / "cut.wav") == 0
    err = capsys.readouterr().err
    assert "truncated file: its header promises 6.0 s, it holds 2.0 s" in err
    assert sf.info(out / "tiny/cut/vocals.wav").frames == 88200
    assert _separate(model_dir, tmp_path / "strict", tmp_path / "cut.wav", extra=["--strict"]) == 1
    assert "truncated file" in capsys.readouterr().err and not (tmp_path / "strict").exists()
    assert _separate(model_dir, tmp_path / "ok", tmp_path / "full.wav", extra=["--strict"]) == 0
    assert "truncated file" not in capsys.readouterr().err


def test_jobs_separate_files_in_parallel_with_the_same_result(tmp_path, model_dir, capsys):
    songs = []
    for i in range(3):
        songs.append(tmp_path / f"s{i}.wav")
        sf.write(songs[-1], _tone(1.0 + 0.5 * i, 44100) * (0.5 + 0.2 * i), 44100)
    assert _separate(model_dir, tmp_path / "one", *songs) == 0
    assert _separate(model_dir, tmp_path / "two", *songs, extra=["-j", "2"]) == 0
    assert _outputs(tmp_path / "one") == _outputs(tmp_path / "two") and len(_outputs(tmp_path / "two")) == 12
    for rel in _outputs(tmp_path / "one"):
        a, _ = sf.read(tmp_path / "one" / rel)
        b, _ = sf.read(tmp_path / "two" / rel)
        assert np.array_equal(a, b), rel
    assert "separated 3 of 3 input(s)" in capsys.readouterr().err
    assert _separate(model_dir, tmp_path / "x", *songs, extra=["-j", "0"]) == 2


# -- issue 24: bad input is one line and a non-zero exit, never a traceback or a stray / half-written file -------

def _one_error(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("peak", [3e38, 1e30, 1e5])
@pytest.mark.parametrize("extra", [(), ("--bits", "32f"), ("--format", "flac"), ("--format", "mp3")])
def test_huge_finite_samples_are_refused_before_any_encoder(tmp_path, model_dir, capsys, peak, extra):
    """One absurd float sample used to give stems of -1.0, NaN, a FLAC AssertionError or a LAME abort (exit 134)
    with temporaries left: refused in one line, nothing written."""
    x = _tone(1.0, 44100)
    x[1000, 0] = peak
    sf.write(tmp_path / "huge.wav", x, 44100, subtype="FLOAT")
    out = tmp_path / "out"
    assert _separate(model_dir, out, tmp_path / "huge.wav", extra=extra) == 1
    assert "beyond what audio holds" in _one_error(capsys)
    assert not out.exists() or _outputs(out) == []


def test_loud_but_plausible_float_input_is_separated(tmp_path, model_dir):
    sf.write(tmp_path / "loud.wav", _tone(0.5, 44100) * 30, 44100, subtype="FLOAT")  # +30 dB over full scale
    assert _separate(model_dir, tmp_path / "out", tmp_path / "loud.wav", extra=["--format", "flac"]) == 0
    assert np.abs(sf.read(tmp_path / "out/tiny/loud/vocals.flac")[0]).max() <= 1.0


@pytest.mark.parametrize("name", ["...wav", "..wav", ".hidden.wav"])
def test_dot_names_stay_inside_the_output_folder(tmp_path, model_dir, name):
    """``...wav`` used to write its stems into the output folder itself, ``..wav`` into the model's folder."""
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / name, _tone(0.5, 44100), 44100, format="WAV")
    out = tmp_path / "out"
    assert _separate(model_dir, out, tmp_path / "in" / name) == 0
    files = _outputs(out)
    assert len(files) == 4 and all(f.startswith("tiny/_") and f.count("/") == 2 for f in files), files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]


def test_separating_a_folder_into_itself_twice_skips_its_own_stems(tmp_path, model_dir, capsys):
    d = tmp_path / "music"
    d.mkdir()
    sf.write(d / "a.wav", _tone(0.5, 44100), 44100)
    assert _separate(model_dir, d, d) == 0
    first = _outputs(d)
    capsys.readouterr()
    assert _separate(model_dir, d, d, extra=["--overwrite"]) == 0
    assert _outputs(d) == first == ["a.wav", *[f"tiny/a/{s}.wav" for s in sorted(STEMS)]]
    err = capsys.readouterr().err
    assert "4 file(s) under" in err and "separated 1 of 1 input(s)" in err
    # an output folder inside the input folder is skipped as a whole
    (d / "tiny").rename(tmp_path / "elsewhere")
    assert _separate(model_dir, d / "sep", d) == 0
    assert _separate(model_dir, d / "sep", d, extra=["--overwrite"]) == 0
    assert _outputs(d) == ["a.wav", *[f"sep/tiny/a/{s}.wav" for s in sorted(STEMS)]]


def test_an_output_that_would_replace_its_input_is_refused(tmp_path, model_dir, capsys):
    out = tmp_path / "out"
    (out / "tiny").mkdir(parents=True)
    sf.write(out / "tiny" / "vocals.wav", _tone(0.5, 44100), 44100)
    before = (out / "tiny" / "vocals.wav").read_bytes()
    assert _separate(model_dir, out, out / "tiny" / "vocals.wav",
                     extra=["--filename", "{stem}.{ext}", "--overwrite"]) == 1
    assert "would replace the input itself" in _one_error(capsys)
    assert (out / "tiny" / "vocals.wav").read_bytes() == before and _outputs(out) == ["tiny/vocals.wav"]


@pytest.mark.parametrize(("extra", "words"), [
    (["--stems", "vocals,vocals"], "given twice"), (["--stems", "vocals,Vocals"], "given twice"),
    (["--stems", "../x"], "not a plain name"), (["--stems", "drums", "--two-stems", "vocals"], "cannot be combined"),
    (["--two-stems", "../x"], "not a plain name"), (["--segment", "1e9"], "segment"), (["--segment", "inf"], "segment"),
    (["--segment", "nan"], "segment"), (["--segment", "0"], "segment"), (["--overlap", "0.9999999"], "overlap"),
    (["--shifts", "1000000"], "shifts"), (["--batch-size", "0"], "batch_size"), (["--device", "tpu"], "device"),
    (["--device", "mps"], "device"), (["--device", "cuda:99"], "cuda"), (["-j", "100000"], "--jobs"),
])
def test_bad_options_are_one_line_before_any_work(tmp_path, model_dir, capsys, extra, words):
    sf.write(tmp_path / "a.wav", _tone(0.5, 44100), 44100)
    try:
        code = _separate(model_dir, tmp_path / "out", tmp_path / "a.wav", extra=extra)
    except SystemExit as exc:  # argparse refuses the name itself
        code = exc.code
    assert code == 2
    assert words in _one_error(capsys)
    assert not (tmp_path / "out").exists()


def _raw_wav(path, rate, frames=1000):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0" * 4 * frames)


def test_inputs_that_are_not_audio_files_say_what_they_are(tmp_path, model_dir, capsys):
    _raw_wav(tmp_path / "one-hz.wav", 1)
    (tmp_path / "tag.mp3").write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x10" + bytes(range(16)) * 4)
    os.mkfifo(tmp_path / "fifo.wav")
    cases = {"one-hz.wav": "1 Hz", "tag.mp3": "could not be decoded as audio; accepted formats: aac,",
             "fifo.wav": "pipe", "-": "standard input"}
    for name, words in cases.items():
        out = tmp_path / f"out-{name}"
        assert _separate(model_dir, out, name if name == "-" else tmp_path / name) == 1, name
        line = _one_error(capsys)
        assert words in line and "possibly a pipe" not in line, line
        assert not out.exists() or _outputs(out) == []


@pytest.mark.slow
def test_repeated_sigterm_still_cleans_up(tmp_path, model_dir):
    """``timeout -k`` sends SIGTERM twice: the second one used to interrupt the cleanup (exit 134, "terminate
    called without an active exception", hidden .raw.wav files left)."""
    song, out = _long_song(tmp_path), tmp_path / "out"
    proc = _start(model_dir, song, out)
    _wait_for_temporaries(proc, out)
    for _ in range(6):
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.03)
    _, err = proc.communicate(timeout=120)
    # 143 = exit(128 + SIGTERM); -15: a signal sent after main() had finished the cleanup and given the default
    # handler back (a shell reports 143 for both)
    assert proc.returncode in (143, -signal.SIGTERM), err
    assert "terminate called" not in err and "Traceback" not in err and "Exception ignored" not in err, err
    assert err.strip().splitlines()[-1] == "tfswa: terminated"
    assert not out.exists(), _outputs(out) + _hidden(out)


def test_an_output_folder_that_cannot_be_written_is_one_line_before_any_work(tmp_path, model_dir, capsys):
    sf.write(tmp_path / "a.wav", _tone(0.5, 44100), 44100)
    (tmp_path / "file").write_text("x")
    for out in ("file", "file/sub"):
        assert _separate(model_dir, tmp_path / out, tmp_path / "a.wav") == 2
        assert "file is a file" in _one_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "file"]
