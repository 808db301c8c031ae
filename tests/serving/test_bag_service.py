"""The service serves a model bag like any model directory (in process: Starlette's TestClient, no worker)."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from helpers import REPO
from tfswa.bag import save_bag
from tfswa.checkpoint import save_model
from tfswa.models import create_model
from tfswa.serving.app import Settings, create_app

FOUR = ("vocals", "drums", "bass", "other")


def test_the_service_accepts_a_bag_and_its_extra_stems(tmp_path) -> None:
    four = create_model("tfswa-resunet-tiny", FOUR)
    karaoke = create_model("tfswa-resunet-tiny", ("vocals", "accompaniment"))
    four.training_steps = karaoke.training_steps = 1
    save_model(four, tmp_path / "four")
    save_model(karaoke, tmp_path / "karaoke")
    save_bag(tmp_path / "bag", [("karaoke", {"vocals": 1, "accompaniment": 1}), ("four", {s: 1 for s in FOUR[1:]})],
             FOUR)
    app = create_app(Settings(data=tmp_path / "data", model=str(tmp_path / "bag"), workers=0))
    client = TestClient(app, base_url="http://127.0.0.1")
    models = client.get("/v1/models").json()
    assert models[0]["architecture"] == "bag" and models[0]["sources"] == [*FOUR, "accompaniment"]
    for form in ({"two_stems": "vocals"}, {"stems": "accompaniment"}):
        with open(REPO / "demo" / "demo.flac", "rb") as fh:
            r = client.post("/v1/jobs", files={"file": ("demo.flac", fh)}, data=form)
        assert r.status_code == 202, r.text
