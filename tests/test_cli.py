import json
import subprocess
import sys

import pytest

from tfswa.cli import main


def test_init_then_info_json(tmp_path, capsys):
    assert main(["init", "tfswa-resunet-tiny", str(tmp_path / "m"), "--sources", "vocals,drums,bass,other"]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "m"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sources"] == ["vocals", "drums", "bass", "other"]
    assert info["training_steps"] == 0
    assert info["params"] == sum(info["params_per_stage"].values())
    assert info["gflops_per_second"] > 0
    assert info["output_shape"][1:] == [4, 2, info["segment_frames"], 513]


def test_info_text_lists_stages(capsys):
    assert main(["info", "tfswa-unet-tiny"]) == 0
    out = capsys.readouterr().out
    assert "bottleneck" in out and "GFLOPs per second" in out


@pytest.mark.slow
def test_user_errors_are_one_line_without_traceback(tmp_path):
    for args in (["info", "nope"], ["init", "nope", str(tmp_path / "x")], ["info", str(tmp_path)]):
        proc = subprocess.run([sys.executable, "-m", "tfswa", *args], capture_output=True, text=True)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_every_subcommand_answers_bad_values_with_one_error_line(tmp_path, capsys):
    """No traceback and exactly one ``error:`` line for a bad value in every subcommand."""
    song = tmp_path / "song.wav"
    song.write_bytes(b"not audio at all")
    cases = [
        ["info", "nope"], ["info", "tfswa-resunet-tiny", "--frames", "abc"],
        ["init", "nope", str(tmp_path / "x")], ["init", "tfswa-resunet-tiny", str(tmp_path / "y"), "--sources", ","],
        ["separate", str(tmp_path / "missing.wav")], ["separate", str(song)], ["separate", str(song), "-m", "nope"],
        ["separate", str(song), "--format", "ogg"], ["separate", str(song), "--shifts", "many"],
        ["separate", str(song), "--mp3-bitrate", "100"], ["separate", str(song), "--filename", "{oops}"],
        ["models", "--bogus"],
        ["train", "model.preset=nope"], ["train", "trainer.batch_size=0"], ["train", "nosuchkey=1"],
        ["train", "--resume", str(tmp_path)], ["train", str(tmp_path / "missing.yaml")],
        ["evaluate", "--oracle", "irm2", "--root", str(tmp_path / "none")], ["evaluate", "--oracle", "nope"],
        ["synth", str(tmp_path / "s"), "--tracks", "-1"], ["synth", str(tmp_path / "s"), "--seconds", "0"],
        ["synth", str(tmp_path / "s"), "--real-voice", str(tmp_path / "none")],
    ]
    for args in cases:
        try:
            code = main(args)
        except SystemExit as exc:  # argparse
            code = exc.code
        err = capsys.readouterr().err
        assert code in (1, 2), (args, code)
        assert "Traceback" not in err, args
        errors = [line for line in err.splitlines() if "error:" in line]
        assert len(errors) == 1 and errors[0].startswith("tfswa"), (args, err)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


def test_init_never_replaces_a_model_without_overwrite(tmp_path, capsys):
    from tfswa.checkpoint import WEIGHTS, load_model, save_model
    from tfswa.models import create_model

    trained = create_model("tfswa-resunet-tiny")
    trained.training_steps = 1000
    save_model(trained, tmp_path / "m")
    weights = (tmp_path / "m" / WEIGHTS).read_bytes()
    assert main(["init", "tfswa-resunet-tiny", str(tmp_path / "m")]) == 2
    assert "already holds a model" in _error_line(capsys)
    assert (tmp_path / "m" / WEIGHTS).read_bytes() == weights and load_model(tmp_path / "m").training_steps == 1000
    assert main(["init", "tfswa-resunet-tiny", str(tmp_path / "m"), "--overwrite"]) == 0
    assert load_model(tmp_path / "m").training_steps == 0
    (tmp_path / "file").write_text("x")
    for target in ("file", "file/sub"):
        assert main(["init", "tfswa-resunet-tiny", str(tmp_path / target)]) == 2
        assert "file" in _error_line(capsys)
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("sources", ["../../evil", "vocals,vocals", "a/b", ".x"])
def test_init_refuses_stem_names_that_are_not_plain(tmp_path, capsys, sources):
    with pytest.raises(SystemExit) as exc:
        main(["init", "tfswa-resunet-tiny", str(tmp_path / "m"), "--sources", sources])
    assert exc.value.code == 2 and "--sources" in _error_line(capsys)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("frames", ["-5", "0", "1", "100000"])
def test_info_frames_out_of_range_is_one_line(capsys, frames):
    assert main(["info", "tfswa-resunet-tiny", "--frames", frames]) == 2
    assert "--frames must be an integer between 2 and" in _error_line(capsys)


def test_synth_checks_its_output_and_rate_before_any_work(tmp_path, capsys, monkeypatch):
    import tfswa.synth.corpus

    monkeypatch.setattr(tfswa.synth.corpus, "generate_corpus", lambda *a, **k: pytest.fail("work started"))
    (tmp_path / "file").write_text("x")
    cases = {"file": "is a file", "file/out": "cannot write there"}
    for target, words in cases.items():
        assert main(["synth", str(tmp_path / target), "--renderer", "builtin", "-q"]) == 2
        assert words in _error_line(capsys)
    for rate in ("0", "-44100", "10"):
        assert main(["synth", str(tmp_path / "new"), "--renderer", "builtin", "--sample-rate", rate, "-q"]) == 2
        assert "--sample-rate" in _error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_failed_synth_leaves_no_empty_folders(tmp_path, monkeypatch, capsys):
    import tfswa.synth.corpus

    def fail(root, *args, **kwargs):
        from pathlib import Path

        (Path(root) / "train").mkdir(parents=True)
        raise OSError(28, "No space left on device", str(root))

    monkeypatch.setattr(tfswa.synth.corpus, "generate_corpus", fail)
    assert main(["synth", str(tmp_path / "a" / "b"), "--renderer", "builtin", "-q"]) == 1
    assert "No space left on device" in _error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_a_second_stop_signal_does_not_interrupt_the_cleanup(monkeypatch, capsys):
    """``timeout -k`` sends SIGTERM twice, users press Ctrl-C twice: the first unwinds, the next ones are ignored
    until the cleanup has finished (it used to be interrupted: exit 134, temporaries left)."""
    import os
    import signal
    import time

    import tfswa.cli

    for signum, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        cleaned = []

        def command(args, signum=signum, cleaned=cleaned):
            try:
                os.kill(os.getpid(), signum)
                time.sleep(5)
            finally:  # the cleanup, hit by a second signal
                os.kill(os.getpid(), signum)
                time.sleep(0.05)
                cleaned.append(True)

        monkeypatch.setattr(tfswa.cli, "cmd_models", command)
        before = signal.getsignal(signum)
        assert main(["models"]) == code
        assert cleaned == [True] and signal.getsignal(signum) == before
        assert capsys.readouterr().err.strip().splitlines()[-1] in ("tfswa: terminated", "tfswa: interrupted")


@pytest.mark.parametrize(("extra", "words"), [(["--stems", "vocals,vocals"], "twice"),
                                              (["--stems", "drums", "--two-stems", "vocals"], "cannot be combined"),
                                              (["--two-stems", "../x"], "not a plain name")])
def test_stream_checks_stem_names_before_connecting(tmp_path, capsys, extra, words):
    pytest.importorskip("websockets")
    assert main(["stream", str(tmp_path / "a.wav"), str(tmp_path / "out"), "--url", "ws://127.0.0.1:9/v1/stream",
                 *extra]) == 2
    assert words in _error_line(capsys)
