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
