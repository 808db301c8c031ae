import json
import subprocess
import sys

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


def test_user_errors_are_one_line_without_traceback(tmp_path):
    for args in (["info", "nope"], ["init", "nope", str(tmp_path / "x")], ["info", str(tmp_path)]):
        proc = subprocess.run([sys.executable, "-m", "tfswa", *args], capture_output=True, text=True)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
