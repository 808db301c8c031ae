"""Synthetic corpus: composition, rendering, MUSDB18-HQ layout, exact mixtures, determinism, overlap of stems."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import istft, stft

from helpers import needs_fluidsynth, synth_corpus
from tfswa.cli import main
from tfswa.synth import instruments as gm
from tfswa.synth.compose import STEMS, Note, Part, compose_song
from tfswa.synth.corpus import SynthOptions, generate_corpus, render_track
from tfswa.synth.render_fluidsynth import FluidsynthRenderer
from tfswa.synth.theory import diatonic_chord, voice_chord

FILES = (*STEMS, "mixture")




@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return synth_corpus(tmp_path_factory, "syn", 3, 1, seconds=8.0, seed=5)


def _read(track: Path, name: str) -> np.ndarray:
    audio, sr = sf.read(track / f"{name}.wav", dtype="float32", always_2d=True)
    assert sr == 44100
    return audio


def _usdr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum((ref - est) ** 2), 1e-20)))


# -- composition -------------------------------------------------------------------------------------------------


def test_theory_chords_and_voicings():
    assert diatonic_chord(0, "major", 0).name == "C"
    assert diatonic_chord(0, "major", 5).name == "Am"
    assert diatonic_chord(9, "minor", 4).tones == (4, 7, 11)  # Em in A minor
    assert diatonic_chord(0, "major", 4, seventh=True).name == "G7"
    chord = diatonic_chord(2, "major", 0)  # D major
    voicing = voice_chord(chord, 62, 48, 76, 4)
    assert len(voicing) == 4 and all(48 <= p <= 76 for p in voicing)
    assert {p % 12 for p in voicing} == {2, 6, 9}


def test_composition_is_seeded_and_musical():
    metas = [compose_song(np.random.default_rng(s), 20.0).to_meta() for s in range(40)]
    assert compose_song(np.random.default_rng(3), 20.0).to_meta() == metas[3]
    assert metas[3] != metas[4]
    names = {s["name"] for m in metas for s in m["sections"]}
    assert names == {"intro", "verse", "chorus", "bridge", "outro"}
    assert {m["dropped_stems"][0] for m in metas if m["dropped_stems"]} >= {"vocals"}
    assert any(not m["dropped_stems"] for m in metas)
    for m in metas:
        assert 60 <= m["tempo"] <= 180
        for stem in STEMS:
            if stem not in m["dropped_stems"]:
                assert m["active"][stem], f"{stem} never plays"
        others = [p for p in m["parts"] if p["stem"] == "other"]
        assert "other" in m["dropped_stems"] or 1 <= len(others) <= 5


def test_voices_and_accompaniment_overlap_in_pitch():
    """The task must not be solvable by pitch range: most vocal notes lie inside the accompaniment's span."""
    inside = []
    for seed in range(30):
        song = compose_song(np.random.default_rng(seed), 20.0)
        vocal = [n.pitch for p in song.parts if p.stem == "vocals" for n in p.notes]
        other = [n.pitch for p in song.parts if p.stem == "other" for n in p.notes]
        bass = [n.pitch for p in song.parts if p.stem == "bass" for n in p.notes]
        for p in song.parts:
            for n in p.notes:
                assert 0 <= n.start < 20.0 and n.duration > 0 and 1 <= n.velocity <= 127
        assert not bass or max(bass) >= 40  # bass reaches the low-mid range the others also use
        if vocal and other:
            inside.append(np.mean([min(other) <= v <= max(other) for v in vocal]))
    assert len(inside) >= 20 and np.median(inside) >= 0.8


def test_vocal_lines_have_rests_glides_and_vibrato():
    songs = [compose_song(np.random.default_rng(s), 30.0) for s in range(10)]
    leads = [p for s in songs for p in s.parts if p.role == "lead"]
    assert leads
    assert all(p.vibrato_cents > 0 for p in leads)
    assert any(n.glide != 0 for p in leads for n in p.notes)
    for p in leads:
        gaps = [b.start - (a.start + a.duration) for a, b in zip(p.notes, p.notes[1:], strict=False)]
        assert max(gaps) > 0.3  # phrases end with rests


# -- corpus on disk (built-in renderer) ---------------------------------------------------------------------------


@pytest.mark.slow
def test_layout_and_musdb_loads(corpus: Path):
    import musdb

    train = sorted(p.name for p in (corpus / "train").iterdir())
    test = sorted(p.name for p in (corpus / "test").iterdir())
    assert len(train) == 3 and len(test) == 1
    for name in train:
        assert sorted(p.name for p in (corpus / "train" / name).iterdir()) == sorted(
            [f"{f}.wav" for f in FILES] + ["meta.json"])
    db = musdb.DB(root=str(corpus), is_wav=True, subsets="train")
    assert len(db) == 3
    track = db[0]
    assert track.rate == 44100 and track.audio.shape[1] == 2
    assert set(track.sources) == set(STEMS)
    assert track.targets["vocals"].audio.shape == track.audio.shape
    assert len(musdb.DB(root=str(corpus), is_wav=True, subsets="test")) == 1


def test_mixture_is_the_stem_sum(corpus: Path):
    for track in (corpus / "train").iterdir():
        mix = _read(track, "mixture").astype(np.float64)
        total = sum(_read(track, s).astype(np.float64) for s in STEMS)
        assert mix.shape == (8 * 44100, 2)
        assert np.max(np.abs(mix - total)) <= 1e-6
        assert 0.05 < np.max(np.abs(mix)) <= 1.0


def test_stems_sound_where_meta_says_they_play(corpus: Path):
    for track in (*(corpus / "train").iterdir(), *(corpus / "test").iterdir()):
        meta = json.loads((track / "meta.json").read_text())
        assert meta["renderer"] == "builtin" and meta["options"]["seed"] == 5
        assert {"tempo", "key", "sections", "parts", "stem_gains_db", "active"} <= set(meta)
        for stem in STEMS:
            audio = _read(track, stem)
            spans = meta["active"][stem]
            if stem in meta["dropped_stems"]:
                assert not spans and not np.any(audio)
            for start, end in spans:
                if end - start >= 0.25:
                    seg = audio[int(start * 44100): int(end * 44100)]
                    assert np.sqrt(np.mean(seg**2)) > 1e-3, f"{track.name}/{stem} silent in {start}-{end}"
            silent = np.ones(len(audio), bool)
            for start, end in spans:
                silent[max(0, int((start - 0.01) * 44100)): int((end + 2.5) * 44100)] = False  # rounding; tails
            assert np.max(np.abs(audio[silent]), initial=0.0) < 1e-3


@pytest.mark.slow
def test_same_seed_same_bytes_parallel_or_not(corpus: Path, tmp_path: Path):
    generate_corpus(tmp_path, 3, 1, SynthOptions(seconds=8.0, seed=5, renderer="builtin"), jobs=2)
    for split in ("train", "test"):
        for track in (corpus / split).iterdir():
            for name in (*(f"{f}.wav" for f in FILES), "meta.json"):
                assert (track / name).read_bytes() == (tmp_path / split / track.name / name).read_bytes()
    other, _ = render_track("train", 0, SynthOptions(seconds=8.0, seed=6, renderer="builtin"))
    assert not np.array_equal(other["mixture"], _read(corpus / "train" / sorted(
        p.name for p in (corpus / "train").iterdir())[0], "mixture"))


def test_rerun_keeps_finished_tracks_and_redoes_broken_ones(tmp_path: Path):
    options = SynthOptions(seconds=3.0, seed=2, renderer="builtin")
    first = generate_corpus(tmp_path, 2, 0, options)
    assert (first.written, first.skipped) == (2, 0)
    tracks = sorted((tmp_path / "train").iterdir())
    (tracks[1] / "vocals.wav").unlink()
    again = generate_corpus(tmp_path, 2, 0, options)
    assert (again.written, again.skipped) == (1, 1)
    assert (tracks[1] / "vocals.wav").is_file()
    assert not [p for p in (tmp_path / "train").iterdir() if p.name.startswith(".")]


def test_pcm24_mixture_is_exactly_the_stem_sum(tmp_path: Path):
    generate_corpus(tmp_path, 1, 0, SynthOptions(seconds=3.0, seed=9, renderer="builtin", audio_format="pcm24"))
    track = next((tmp_path / "train").iterdir())
    assert sf.info(track / "mixture.wav").subtype == "PCM_24"
    ints = {f: sf.read(track / f"{f}.wav", dtype="int32")[0] >> 8 for f in FILES}
    assert np.array_equal(ints["mixture"], sum(ints[s] for s in STEMS))


def _split_vs_ratio_gaps(root: Path) -> dict[str, list[float]]:
    """Per stem: oracle ratio mask uSDR minus oracle *frequency split* uSDR, over the tracks under ``root``.

    The frequency split gives each STFT bin, for the whole song, to the stem owning most of its energy; if stems
    lived in separate frequency bands it would be as good as the time-varying ratio mask.
    """
    gaps: dict[str, list[float]] = {s: [] for s in STEMS}
    for track in sorted(root.glob("*/*")):
        stems = {s: _read(track, s).T.astype(np.float64) for s in STEMS}
        mix = sum(stems.values())
        power = {s: np.abs(stft(x, nperseg=2048, noverlap=1536)[2]) ** 2 for s, x in stems.items()}
        mspec = stft(mix, nperseg=2048, noverlap=1536)[2]
        owner = np.stack([p.sum(axis=(0, 2)) for p in power.values()]).argmax(0)
        total = np.maximum(sum(power.values()), 1e-20)
        for k, s in enumerate(STEMS):
            if not np.any(stems[s]):
                continue
            split = istft(mspec * (owner == k)[None, :, None], nperseg=2048, noverlap=1536)[1][:, : mix.shape[1]]
            ratio = istft(mspec * power[s] / total, nperseg=2048, noverlap=1536)[1][:, : mix.shape[1]]
            gaps[s].append(_usdr(stems[s], ratio) - _usdr(stems[s], split))
    return gaps


def test_frequency_split_oracle_scores_below_ratio_mask_builtin(corpus: Path):
    gaps = [g for v in _split_vs_ratio_gaps(corpus).values() for g in v]
    assert min(gaps) > 0.5 and np.mean(gaps) > 2.5, gaps


# -- SoundFont renderer -------------------------------------------------------------------------------------------


@needs_fluidsynth
def test_every_catalogue_instrument_sounds_in_the_soundfont():
    renderer = FluidsynthRenderer()
    for inst in (*gm.OTHER, *gm.BASS, *gm.VOICES, *gm.DRUM_KITS):
        drum = inst in gm.DRUM_KITS
        pitch = gm.SNARE if drum else (inst.low + inst.high) // 2 if inst.high < 127 else 64
        part = Part("other", inst, "test", [Note(0.05, 0.4, pitch, 100)], is_drum=drum)
        audio = renderer.render(part, 0.6, seed=0)
        assert audio.shape == (2, round(0.6 * 44100))
        assert np.sqrt(np.mean(audio**2)) > 1e-3, inst.name


@pytest.mark.slow
@needs_fluidsynth
def test_fluidsynth_corpus_exact_and_deterministic(tmp_path: Path):
    options = SynthOptions(seconds=5.0, seed=11, renderer="fluidsynth")
    generate_corpus(tmp_path / "a", 1, 1, options)
    generate_corpus(tmp_path / "b", 1, 1, options, jobs=2)
    for split in ("train", "test"):
        track = next((tmp_path / "a" / split).iterdir())
        twin = tmp_path / "b" / split / track.name
        for f in FILES:
            assert (track / f"{f}.wav").read_bytes() == (twin / f"{f}.wav").read_bytes()
        total = sum(_read(track, s).astype(np.float64) for s in STEMS)
        assert np.max(np.abs(_read(track, "mixture") - total)) <= 1e-6
        meta = json.loads((track / "meta.json").read_text())
        assert meta["renderer"] == "fluidsynth" and meta["sounds"]["soundfonts"]
        assert any(p["source"].startswith("soundfont:") for p in meta["parts"])


@pytest.mark.slow
@needs_fluidsynth
def test_frequency_split_oracle_scores_far_below_ratio_mask_fluidsynth(tmp_path: Path):
    """On the SoundFont corpus the stems overlap in frequency: an oracle frequency split is far from the IRM."""
    generate_corpus(tmp_path, 4, 0, SynthOptions(seconds=12.0, seed=1, renderer="fluidsynth"))
    gaps = _split_vs_ratio_gaps(tmp_path)
    everything = [g for v in gaps.values() for g in v]
    assert min(everything) > 3.0 and np.mean(everything) > 5.0, gaps
    assert np.mean(gaps["vocals"]) > 5.0, gaps


# -- command line ---------------------------------------------------------------------------------------------


def test_cli_synth_writes_corpus_and_midi(tmp_path: Path, capsys):
    out = tmp_path / "syn"
    assert main(["synth", str(out), "--tracks", "1", "--test-tracks", "1", "--seconds", "3", "--seed", "4",
                 "--renderer", "builtin", "--save-midi", "-q"]) == 0
    assert "2 songs written" in capsys.readouterr().out
    track = next((out / "train").iterdir())
    meta = json.loads((track / "meta.json").read_text())
    midis = sorted((track / "midi").iterdir())
    assert len(midis) == len(meta["parts"])
    for path, part in zip(midis, meta["parts"], strict=True):
        notes = [m for m in mido.MidiFile(path) if m.type == "note_on"]
        assert len(notes) == part["notes"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seconds", "0"], "--seconds"),
        (["--tracks", "-1"], "--tracks"),
        (["--jobs", "0"], "--jobs"),
        (["--renderer", "fluidsynth", "--soundfont", "/nonexistent/x.sf2"], "no such SoundFont"),
    ],
)
def test_cli_synth_bad_options(tmp_path: Path, capsys, args, message):
    assert main(["synth", str(tmp_path / "o"), "--seconds", "2", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]


def test_cli_synth_not_a_soundfont(tmp_path: Path, capsys):
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"RIFF\0\0\0\0WAVEfmt ")
    assert main(["synth", str(tmp_path / "o"), "--soundfont", str(fake), "--seconds", "2"]) == 2
    assert "not a SoundFont file" in capsys.readouterr().err
