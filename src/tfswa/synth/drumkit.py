"""Drum parts rendered with recorded Hydrogen drum kits (Debian package ``hydrogen-drumkits``).

A kit is a folder with a ``drumkit.xml`` (instruments, each with velocity layers of sample files) beside its
samples. :class:`DrumKit` parses it, maps every General MIDI percussion key (35–81) that the kit can plausibly serve
to a kit instrument by name, and decodes samples lazily (resampled with ``soxr``, cached per process).
:class:`HydrogenDrumRenderer` plays a drum :class:`~tfswa.synth.compose.Part` through a kit.

Audio arrays are (C, N): C = channels (2, left and right), N = samples; cached samples are (2, L) float32.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from tfswa.synth.compose import Part
from tfswa.synth.effects import balance
from tfswa.synth.render_fluidsynth import SynthError

DEFAULT_ROOT = Path("/usr/share/hydrogen/data/drumkits")
INSTALL_HINT = "install the Debian package hydrogen-drumkits (apt-get install hydrogen-drumkits)"

# General MIDI percussion map (channel 10), keys 35–81.
GM_PERCUSSION = {
    35: "acoustic bass drum", 36: "bass drum 1", 37: "side stick", 38: "acoustic snare", 39: "hand clap",
    40: "electric snare", 41: "low floor tom", 42: "closed hi-hat", 43: "high floor tom", 44: "pedal hi-hat",
    45: "low tom", 46: "open hi-hat", 47: "low-mid tom", 48: "hi-mid tom", 49: "crash cymbal 1", 50: "high tom",
    51: "ride cymbal 1", 52: "chinese cymbal", 53: "ride bell", 54: "tambourine", 55: "splash cymbal",
    56: "cowbell", 57: "crash cymbal 2", 58: "vibraslap", 59: "ride cymbal 2", 60: "hi bongo", 61: "low bongo",
    62: "mute hi conga", 63: "open hi conga", 64: "low conga", 65: "high timbale", 66: "low timbale",
    67: "high agogo", 68: "low agogo", 69: "cabasa", 70: "maracas", 71: "short whistle", 72: "long whistle",
    73: "short guiro", 74: "long guiro", 75: "claves", 76: "hi wood block", 77: "low wood block", 78: "mute cuica",
    79: "open cuica", 80: "mute triangle", 81: "open triangle",
}
REQUIRED_ROLES = ("kick", "snare", "hat_closed")  # a kit without any of them cannot play GM drums (keys 36, 38, 42)
# Kits that pass the name test but whose names do not match their samples (found by spectral analysis).
UNRELIABLE_KITS = {
    "rumpf_kit_z01_h2": "its 'middle tom', 'high tom' and 'cymbal 1' are sub-bass thumps (spectral centroid "
                        "50–90 Hz) and its 'hi-hat open' is a 0.1 s click; the other 60 samples are unnamed",
}

# Pitched families: GM key -> (family, target position from 0 = lowest to 1 = highest member).
FAMILY_KEYS = {
    41: ("tom", 0.0), 43: ("tom", 0.2), 45: ("tom", 0.4), 47: ("tom", 0.6), 48: ("tom", 0.8), 50: ("tom", 1.0),
    60: ("bongo", 1.0), 61: ("bongo", 0.0), 62: ("conga", 1.0), 63: ("conga", 1.0), 64: ("conga", 0.0),
    65: ("timbale", 1.0), 66: ("timbale", 0.0), 67: ("agogo", 1.0), 68: ("agogo", 0.0),
    76: ("woodblock", 1.0), 77: ("woodblock", 0.0),
}
FAMILY_SPREAD = 4.0  # semitones of pitch shift per unit of position, to tell apart keys sharing one instrument

# Other keys: (role, gain) in order of preference; a "+" role plays its second candidate first (35 vs 36, ...).
KEY_ROLES: dict[int, tuple[tuple[str, float], ...]] = {
    35: (("+kick", 1.0),),
    36: (("kick", 1.0),),
    37: (("side_stick", 1.0), ("click", 0.8), ("snare_rim", 0.35), ("snare", 0.3)),
    38: (("snare", 1.0), ("snare_rim", 1.0)),
    39: (("clap", 1.0), ("snap", 0.9), ("snare", 0.5)),
    40: (("+snare", 1.0), ("snare_rim", 1.0)),
    42: (("hat_closed", 1.0), ("hat_other", 1.0)),
    44: (("hat_pedal", 1.0), ("hat_closed", 0.5)),
    46: (("hat_open", 1.0), ("hat_semi", 1.0), ("hat_other", 1.0), ("hat_closed", 1.0)),
    49: (("crash", 1.0), ("crash_ride", 1.0), ("splash", 1.0), ("china", 0.8), ("hat_open", 0.8)),
    51: (("ride", 1.0), ("crash_ride", 0.8), ("crash", 0.45), ("hat_other", 1.0), ("hat_closed", 0.9)),
    52: (("china", 1.0), ("+crash", 0.9), ("splash", 0.9)),
    53: (("ride_bell", 1.0), ("ride", 1.0), ("crash_ride", 0.9), ("cowbell", 0.6)),
    54: (("tambourine", 1.0), ("shaker", 0.9), ("maracas", 0.9)),
    55: (("splash", 1.0), ("+crash", 0.6)),
    56: (("cowbell", 1.0), ("agogo", 0.9)),
    57: (("+crash", 1.0), ("crash_ride", 1.0), ("splash", 1.0), ("china", 0.8), ("hat_open", 0.8)),
    58: (("vibraslap", 1.0),),
    59: (("+ride", 1.0), ("crash_ride", 0.8), ("crash", 0.45), ("hat_other", 1.0), ("hat_closed", 0.9)),
    69: (("cabasa", 1.0), ("shaker", 1.0), ("maracas", 1.0)),
    70: (("maracas", 1.0), ("shaker", 1.0), ("cabasa", 1.0)),
    71: (("whistle", 1.0),), 72: (("whistle", 1.0),),
    73: (("guiro", 1.0),), 74: (("guiro", 1.0),),
    75: (("claves", 1.0), ("woodblock", 0.9)),
    78: (("cuica", 1.0),), 79: (("cuica", 1.0),),
    80: (("triangle", 0.7),), 81: (("triangle", 1.0),),
}
# Fallbacks for pitched families without a member: (role, gain, base pitch shift, shift per unit position).
FAMILY_FALLBACKS = {
    "tom": (("drum", 0.9, 0.0, FAMILY_SPREAD), ("kick", 0.6, 5.0, 12.0)),  # electronic kits: pitched-up kick
    "bongo": (("conga", 0.9, 4.0, FAMILY_SPREAD),),
    "conga": (("bongo", 0.9, -4.0, FAMILY_SPREAD),),
    "timbale": (),
    "agogo": (("cowbell", 0.9, 2.0, FAMILY_SPREAD),),
    "woodblock": (("claves", 0.9, 0.0, FAMILY_SPREAD),),
}
CHOKE_FADE_S = 0.012  # fade of a choked voice (open hi-hat closed by the next hi-hat hit, mute groups)
# All hi-hat roles are one instrument: each hit chokes the ringing one. Roles no key plays: hat_choke, cymbal_choke,
# snare_roll, cymbal (generic), perc (e.g. a foot tambourine).
HAT_ROLES = ("hat_closed", "hat_open", "hat_pedal", "hat_semi", "hat_other", "hat_choke")


@dataclass(frozen=True)
class Layer:
    """One velocity layer: a sample file played for normalised velocities in [low, high]."""

    path: Path
    low: float
    high: float
    gain: float
    pitch: float  # semitones


@dataclass(frozen=True)
class KitInstrument:
    """One instrument of a kit: its role (``None`` when unrecognised), gains, pan gains and velocity layers."""

    index: int
    id: str
    name: str
    role: str | None
    rank: float  # pitch rank within a family (toms: 0 floor … 3 high), by name
    gain: float  # instrument volume × instrument gain
    pan_l: float
    pan_r: float
    mute_group: int
    excludes: tuple[str, ...]
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class Voice:
    """How a GM key sounds: candidate instruments (one is picked per part), a gain and a pitch shift."""

    key: int
    role: str
    instruments: tuple[int, ...]
    gain: float
    pitch: float = 0.0


# -- parsing and naming ----------------------------------------------------------------------------------------


def _tag(el: ET.Element) -> str:
    return el.tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in el if _tag(c) == name), None)


def _text(el: ET.Element, name: str, default: str = "") -> str:
    c = _child(el, name)
    return (c.text or "").strip() if c is not None and c.text is not None else default


def _num(el: ET.Element, name: str, default: float) -> float:
    try:
        return float(_text(el, name) or default)
    except ValueError:
        return default


def _words(text: str) -> list[str]:
    """Lower-case words of an instrument or file name (details in parentheses and note prefixes dropped)."""
    text = re.sub(r"\(.*?\)", " ", text)
    text = re.sub(r"^\s*[a-gA-G]#?\d\s+-\s*", " ", text)  # "c#3 - stick"
    text = re.sub(r"\.(wav|flac|aiff?|ogg)$", "", text, flags=re.IGNORECASE)
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    text = re.sub(r"([A-Za-z])(\d)|(\d)([A-Za-z])", lambda m: " ".join(g for g in m.groups() if g), text)
    text = re.sub(r"[^A-Za-z0-9]+", " ", text).lower()
    text = re.sub(r"\btom(?=[a-z])", "tom ", text)
    text = re.sub(r"\bhihat\b", "hi hat", text)
    text = re.sub(r"\bbassdrum\b", "bass drum", text)
    return text.split()


def classify(name: str) -> tuple[str | None, float]:
    """(role, pitch rank) of a kit instrument from its name (or sample file name); role ``None`` if unknown."""
    words = _words(name)
    w = set(words)
    joined = " ".join(words)
    if not w or w <= set("0123456789") or w & {"sample", "empty", "fx", "zap"}:
        return None, 0.0
    if "choke" in w:
        return ("hat_choke" if w & {"hat", "hh"} else "cymbal_choke"), 0.0
    if w & {"djembe", "dununba", "sangban", "kenkeni", "cajon", "waterglass"}:
        return None, 0.0
    if w & {"hat", "hh", "chh", "ohh", "hats"}:
        if w & {"pedal", "foot", "pd", "ped"}:
            return "hat_pedal", 0.0
        if w & {"semi", "half", "semiopen", "swish", "free", "loose"}:
            return "hat_semi", 0.0
        if w & {"open", "opened", "op", "ohh"}:
            return "hat_open", 0.0
        if w & {"closed", "close", "cl", "chh", "tight"}:
            return "hat_closed", 0.0
        return "hat_other", 0.0
    rank = 0.0 if w & {"low", "lo"} else 1.0 if w & {"hi", "high"} else 0.5
    simple = {"tambourine": "tambourine", "tamb": "tambourine", "cowbell": "cowbell", "clave": "claves",
              "claves": "claves", "maraca": "maracas", "maracas": "maracas", "shaker": "shaker",
              "shake": "shaker", "cabasa": "cabasa", "whistle": "whistle", "guiro": "guiro", "triangle": "triangle",
              "vibraslap": "vibraslap", "cuica": "cuica", "clap": "clap", "claps": "clap", "snap": "snap",
              "snaps": "snap", "china": "china", "splash": "splash"}
    families = {"agogo": "agogo", "woodblock": "woodblock", "timbale": "timbale", "timbales": "timbale",
                "conga": "conga", "congas": "conga", "bongo": "bongo", "bongos": "bongo"}
    if "tambourine" in w and w & {"pedal", "foot"}:
        return "perc", 0.0
    if "wood" in w and "block" in w:
        return "woodblock", rank
    for word in words:
        if word in families:
            return families[word], rank
        if word in simple:
            return simple[word], 0.0
    if w & {"ride", "crash", "cymbal", "cym"}:
        if w & {"bell", "cup"}:
            return "ride_bell", 0.0
        if "ride" in w and "crash" in w:
            return "crash_ride", 0.0
        if "ride" in w:
            return "ride", 0.0
        return ("crash" if "crash" in w else "cymbal"), 0.0
    if "bell" in w:  # a bell in a drum kit (not a cowbell, caught above) is the ride's cup
        return "ride_bell", 0.0
    if w & {"rimshot"} or (w & {"snare", "sd"} and w & {"rim"}):
        return "snare_rim", 0.0
    if w & {"stick", "rim", "sidestick", "rimclick"}:
        return "side_stick", 0.0
    if "click" in w:
        return "click", 0.0
    if w & {"snare", "sd", "snr"}:
        return ("snare_roll" if "roll" in w else "snare"), 0.0
    if w & {"kick", "bd", "kik", "kck"} or "bass drum" in joined:
        return "kick", 0.0
    if "tom" in w or "toms" in w:
        if "floor" in w:
            return "tom", 0.0
        if w & {"low", "lo"}:
            return "tom", 1.0
        if w & {"mid", "middle", "med"}:
            return "tom", 2.0
        if w & {"hi", "high"}:
            return "tom", 3.0
        number = next((int(x) for x in words if x.isdigit()), 0)
        return "tom", {1: 3.0, 2: 2.0, 3: 1.0, 4: 0.5}.get(number, 2.0)
    if "drum" in w:
        return "drum", float(next((int(x) for x in words if x.isdigit()), 0))
    return None, 0.0


def _parse_instruments(path: Path) -> tuple[str, list[KitInstrument]]:
    """(kit title, instruments with existing sample files) of a ``drumkit.xml``."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise SynthError(f"{path}: cannot read this Hydrogen drum kit ({exc})") from None
    folder = path.parent
    title = _text(root, "name", folder.name)
    found: list[KitInstrument] = []
    seen: set[tuple] = set()
    instrument_list = _child(root, "instrumentList")
    for el in (instrument_list if instrument_list is not None else []):
        if _tag(el) != "instrument":
            continue
        layer_els = [c for c in el.iter() if _tag(c) == "layer"]
        layers = []
        for lay in layer_els:
            layers.append(Layer(folder / _text(lay, "filename"), _num(lay, "min", 0.0), _num(lay, "max", 1.0),
                                _num(lay, "gain", 1.0), _num(lay, "pitch", 0.0)))
        if not layer_els and _text(el, "filename"):  # old format: one sample per instrument
            layers.append(Layer(folder / _text(el, "filename"), 0.0, 1.0, 1.0, 0.0))
        layers = [lay for lay in layers if lay.path.name and lay.path.is_file() and lay.path.stat().st_size > 128]
        signature = tuple(sorted((lay.path.name, lay.low, lay.high, lay.gain, lay.pitch) for lay in layers))
        if not layers or signature in seen:  # no usable sample, or a copy of an earlier instrument
            continue
        seen.add(signature)
        name = _text(el, "name")
        role, rank = classify(name)
        if role is None:
            role, rank = classify(layers[0].path.name)
        if _text(el, "pan"):  # Hydrogen ≥ 1.2: one pan value in [-1, 1]
            pan = _num(el, "pan", 0.0)
            pan_l, pan_r = 1.0 - max(pan, 0.0), 1.0 + min(pan, 0.0)
        else:
            pan_l, pan_r = _num(el, "pan_L", 1.0), _num(el, "pan_R", 1.0)
        excludes = tuple(c.text.strip() for c in el.iter() if _tag(c) == "exclude" and c.text and c.text.strip())
        mute = _text(el, "muteGroup", "-1")
        found.append(KitInstrument(
            index=len(found), id=_text(el, "id"), name=name, role=role, rank=rank,
            gain=_num(el, "volume", 1.0) * _num(el, "gain", 1.0), pan_l=pan_l, pan_r=pan_r,
            mute_group=int(mute) if re.fullmatch(r"-?\d+", mute) else -1, excludes=excludes,
            layers=tuple(sorted(layers, key=lambda lay: (lay.low, lay.high)))))
    return title, found


def _map_keys(instruments: Sequence[KitInstrument]) -> dict[int, Voice]:
    """GM key -> :class:`Voice` for every key of 35–81 that these instruments can serve."""
    by_role: dict[str, list[KitInstrument]] = {}
    for inst in instruments:
        if inst.role is not None:
            by_role.setdefault(inst.role, []).append(inst)
    voices: dict[int, Voice] = {}
    for key in GM_PERCUSSION:
        if key in FAMILY_KEYS:
            family, target = FAMILY_KEYS[key]
            options = ((family, 1.0, 0.0, FAMILY_SPREAD), *FAMILY_FALLBACKS[family])
            for role, gain, base, spread in options:
                members = sorted(by_role.get(role, []), key=lambda m: (m.rank, m.index))
                if not members:
                    continue
                positions = np.linspace(0.0, 1.0, len(members)) if len(members) > 1 else np.array([0.5])
                if role == "kick":  # a pitched-up kick plays every tom
                    members, positions = members[:1], np.array([0.0])
                best = int(np.argmin(np.abs(positions - target)))
                pitch = base + spread * (target - positions[best])
                voices[key] = Voice(key, role, (members[best].index,), gain, float(np.clip(pitch, -12.0, 24.0)))
                break
            continue
        for role, gain in KEY_ROLES[key]:
            members = by_role.get(role.lstrip("+"), [])
            if members:
                order = [m.index for m in members]
                if role.startswith("+"):
                    order = order[1:] + order[:1]
                voices[key] = Voice(key, role.lstrip("+"), tuple(order), gain)
                break
    return voices


def _is_usable(instruments: Sequence[KitInstrument]) -> bool:
    return set(REQUIRED_ROLES) <= {inst.role for inst in instruments}


def _kit_folder(root: Path, name: str) -> Path:
    if not root.is_dir():
        raise SynthError(f"no Hydrogen drum kits at {root}; {INSTALL_HINT}")
    folder = root / name
    if name and "/" not in name and (folder / "drumkit.xml").is_file():
        return folder
    known = sorted(p.parent.name for p in root.glob("*/drumkit.xml"))
    raise SynthError(f"unknown Hydrogen drum kit {name!r} in {root} (known: {', '.join(known) or 'none'}); "
                     f"{INSTALL_HINT}")


def list_kits(root: str | Path = DEFAULT_ROOT, include_unreliable: bool = False) -> list[str]:
    """Names (folder names) of the kits under ``root`` that can play GM drums: a kick, a snare and a closed hi-hat.

    Kits in :data:`UNRELIABLE_KITS` (mislabelled samples) are left out unless ``include_unreliable``.
    """
    root = Path(root)
    if not root.is_dir():
        raise SynthError(f"no Hydrogen drum kits at {root}; {INSTALL_HINT}")
    names = []
    for xml in sorted(root.glob("*/drumkit.xml")):
        if xml.parent.name in UNRELIABLE_KITS and not include_unreliable:
            continue
        try:
            _, instruments = _parse_instruments(xml)
        except SynthError:
            continue
        if _is_usable(instruments):
            names.append(xml.parent.name)
    return names


# -- kits and their samples ------------------------------------------------------------------------------------


class DrumKit:
    """A parsed Hydrogen kit at ``sample_rate``: instruments, GM key voices and a cache of decoded samples."""

    def __init__(self, folder: str | Path, sample_rate: int = 44100):
        self.folder = Path(folder)
        self.name = self.folder.name
        self.sample_rate = sample_rate
        if not (self.folder / "drumkit.xml").is_file():
            raise SynthError(f"{self.folder}: no drumkit.xml here; {INSTALL_HINT}")
        self.title, instruments = _parse_instruments(self.folder / "drumkit.xml")
        self.instruments: tuple[KitInstrument, ...] = tuple(instruments)
        self.voices: dict[int, Voice] = _map_keys(self.instruments)
        self.usable = _is_usable(self.instruments)
        self._samples: dict[tuple[Path, float], np.ndarray] = {}
        self._chokes = self._choke_table()

    def __repr__(self) -> str:
        return f"DrumKit({self.name!r}, {len(self.instruments)} instruments, {len(self.voices)} GM keys)"

    def covered_keys(self) -> list[int]:
        """The GM percussion keys this kit plays (others are silent)."""
        return sorted(self.voices)

    def mapping(self) -> dict[int, str]:
        """GM key -> name of the instrument it plays by default (and its pitch shift in semitones, if any)."""
        return {key: self.instruments[v.instruments[0]].name + ("" if v.pitch == 0 else f" {v.pitch:+.1f} st")
                for key, v in sorted(self.voices.items())}

    def sample(self, layer: Layer, pitch: float = 0.0) -> np.ndarray:
        """(2, L) float32 sample of ``layer`` at the kit's rate, shifted by ``layer.pitch + pitch`` semitones.

        Decoded once and cached; leading silence (below −40 dB of the peak, less 1 ms) and a tail below −60 dB are
        cut, so the attack starts at the note's onset.
        """
        semis = float(layer.pitch + pitch)
        cache_key = (layer.path, semis)
        cached = self._samples.get(cache_key)
        if cached is not None:
            return cached
        try:
            data, rate = sf.read(layer.path, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise SynthError(f"{layer.path}: cannot decode this drum sample ({exc})") from None
        data = data[:, :2] if data.shape[1] >= 2 else np.repeat(data, 2, axis=1)
        source_rate = rate * 2.0 ** (semis / 12.0)
        if abs(source_rate - self.sample_rate) > 1e-6 and len(data) > 1:
            data = soxr.resample(data, source_rate, self.sample_rate, quality="HQ")
        x = np.ascontiguousarray(data.T, dtype=np.float32)
        self._samples[cache_key] = x = _trim(x, self.sample_rate)
        return x

    def _choke_table(self) -> dict[int, tuple[int, ...]]:
        """Instrument index -> instruments whose ringing voices it cuts: hi-hats, mute groups, exclude lists."""
        ids = {inst.id: inst.index for inst in self.instruments}
        table: dict[int, tuple[int, ...]] = {}
        for inst in self.instruments:
            cut = {ids[x] for x in inst.excludes if x in ids}
            for other in self.instruments:
                if (inst.role in HAT_ROLES and other.role in HAT_ROLES) or (
                        inst.mute_group >= 0 and other.mute_group == inst.mute_group):
                    cut.add(other.index)
            if cut:
                table[inst.index] = tuple(sorted(cut))
        return table

    def chokes(self, index: int) -> tuple[int, ...]:
        """Instruments whose ringing voices a hit of instrument ``index`` stops."""
        return self._chokes.get(index, ())


def _trim(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """(2, L) sample without leading silence and silent tail, with 1 ms fade-in and 5 ms fade-out."""
    level = np.max(np.abs(x), axis=0)
    peak = float(level.max()) if level.size else 0.0
    if peak <= 0:
        return np.zeros((2, 1), dtype=np.float32)
    loud = np.flatnonzero(level > peak * 0.01)
    pre = sample_rate // 1000
    start = max(0, int(loud[0]) - pre)
    stop = int(np.flatnonzero(level > peak * 0.001)[-1]) + 1
    x = x[:, start:stop].copy()
    fade_in = min(int(loud[0]) - start, x.shape[1])
    if fade_in > 0:
        x[:, :fade_in] *= np.linspace(0.0, 1.0, fade_in, endpoint=False, dtype=np.float32)
    fade_out = min(sample_rate // 200, x.shape[1] // 4)
    if fade_out > 0:
        x[:, -fade_out:] *= np.linspace(1.0, 0.0, fade_out, dtype=np.float32)
    return x


class KitCache:
    """Kits loaded in this process, by (folder, sample rate): each kit is parsed once and keeps its samples."""

    def __init__(self) -> None:
        self._kits: dict[tuple[str, int], DrumKit] = {}

    def get(self, name: str, sample_rate: int = 44100, root: str | Path = DEFAULT_ROOT) -> DrumKit:
        folder = _kit_folder(Path(root), name)
        key = (str(folder.resolve()), sample_rate)
        if key not in self._kits:
            self._kits[key] = DrumKit(folder, sample_rate)
        return self._kits[key]

    def clear(self) -> None:
        self._kits.clear()


KITS = KitCache()


def load_kit(name: str, sample_rate: int = 44100, root: str | Path = DEFAULT_ROOT) -> DrumKit:
    """The kit ``name`` (a folder under ``root``), loaded once per process."""
    return KITS.get(name, sample_rate, root)


# -- rendering -------------------------------------------------------------------------------------------------


class HydrogenDrumRenderer:
    """Renders drum parts with Hydrogen kits at ``sample_rate``; ``kits`` limits the kits to choose from.

    Per hit: velocity humanised by ±``humanise`` (relative), the layer whose [min, max] holds velocity/127 (a
    seeded choice among overlapping layers), amplitude = layer gain × instrument volume × key gain × velocity curve
    (linear for one-layer instruments, square root when layers already carry the dynamics), the instrument's
    pan gains, then the part's pan. With ``vary``, each part picks one of a role's instruments per GM key (e.g. one
    of several kicks). Hits ring past the note's end up to the buffer's end; a hi-hat hit (or a mute-group /
    exclude partner) chokes the ringing hi-hat with a short fade.
    """

    name = "hydrogen"

    def __init__(self, sample_rate: int = 44100, kits: Sequence[str] | None = None,
                 root: str | Path = DEFAULT_ROOT, vary: bool = True, humanise: float = 0.03):
        self.sample_rate = sample_rate
        self.root = Path(root)
        kits = list_kits(self.root) if kits is None else list(kits)
        for name in kits:
            self._check(name)
        if not kits:
            raise SynthError(f"no usable Hydrogen drum kit in {self.root}; {INSTALL_HINT}")
        self.kits = tuple(kits)
        self.vary = vary
        self.humanise = humanise

    def describe(self) -> dict:
        return {"renderer": self.name, "drumkit_root": str(self.root), "drumkits": list(self.kits)}

    def kit(self, name: str) -> DrumKit:
        """The loaded kit ``name`` (cached for the process)."""
        return load_kit(name, self.sample_rate, self.root)

    def _check(self, name: str) -> DrumKit:
        drums = self.kit(name)
        if not drums.usable:
            raise SynthError(f"Hydrogen drum kit {name!r} has no kick, snare and closed hi-hat to play GM drums "
                             f"(usable kits: {', '.join(list_kits(self.root))}; Debian package hydrogen-drumkits)")
        return drums

    def choose_kit(self, seed: int) -> str:
        """The kit that ``render`` uses for ``seed`` when no kit is named."""
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
        return self.kits[int(rng.integers(len(self.kits)))]

    def render(self, part: Part, seconds: float, seed: int, kit: str | None = None) -> np.ndarray:
        """(2, N) float64 audio of drum ``part`` with N = round(seconds · sample_rate), panned by ``part.pan``.

        ``kit`` names the Hydrogen kit, any usable one (default: :meth:`choose_kit` picks one of ``self.kits``);
        keys the kit cannot play are silent.
        """
        if not part.is_drum:
            raise ValueError(f"{self.name} renders drum parts only, not {part.instrument.name!r}")
        drums = self._check(self.choose_kit(seed) if kit is None else kit)
        sr = self.sample_rate
        n = round(seconds * sr)
        out = np.zeros((2, n))
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
        chosen: dict[int, int] = {}  # GM key -> instrument index, fixed for the part
        hits: list[list] = []  # [start, instrument, sample (2, L), gains (2,), end]
        for note in sorted(part.notes, key=lambda nt: nt.start):
            voice = drums.voices.get(note.pitch)
            start = round(note.start * sr)
            if voice is None or start >= n or start < 0:
                continue
            if note.pitch not in chosen:
                k = len(voice.instruments)
                chosen[note.pitch] = voice.instruments[int(rng.integers(k)) if self.vary and k > 1 else 0]
            inst = drums.instruments[chosen[note.pitch]]
            velocity = float(np.clip(note.velocity * (1.0 + self.humanise * rng.uniform(-1.0, 1.0)), 1.0, 127.0))
            layer = self._layer(inst, velocity / 127.0, rng)
            curve = velocity / 127.0 if len(inst.layers) == 1 else np.sqrt(velocity / 127.0)
            amp = layer.gain * inst.gain * voice.gain * curve
            sample = drums.sample(layer, voice.pitch)
            hits.append([start, inst.index, sample, np.array([inst.pan_l * amp, inst.pan_r * amp]), n])
        self._choke(hits, drums)
        fade = max(1, round(CHOKE_FADE_S * sr))
        ramp = np.linspace(1.0, 0.0, fade, endpoint=False)
        for start, _, sample, gains, end in hits:
            length = min(sample.shape[1], n - start)
            cut = end - start  # the choking hit's onset, relative to this hit
            stop = min(length, cut + fade)
            seg = sample[:, :stop] * gains[:, None]
            if cut < stop:  # choked: fade out from the choking hit on
                seg[:, cut:] *= ramp[: stop - cut]
            out[:, start:start + stop] += seg
        return balance(out, part.pan)

    @staticmethod
    def _layer(inst: KitInstrument, v: float, rng: np.random.Generator) -> Layer:
        """The layer for normalised velocity ``v``: a seeded pick among those whose range holds it, else nearest."""
        fits = [lay for lay in inst.layers if lay.low <= v <= lay.high]
        if not fits:
            gap = [max(lay.low - v, v - lay.high) for lay in inst.layers]
            return inst.layers[int(np.argmin(gap))]
        return fits[int(rng.integers(len(fits)))] if len(fits) > 1 else fits[0]

    @staticmethod
    def _choke(hits: list[list], drums: DrumKit) -> None:
        """Sets each hit's end to the onset of the next hit that chokes it (same hi-hat, mute group, exclude)."""
        ringing: dict[int, list] = {}  # instrument index -> its latest hit
        for hit in hits:
            start, index = hit[0], hit[1]
            for other in drums.chokes(index):
                prev = ringing.get(other)
                if prev is not None and prev is not hit and prev[0] < start:
                    prev[4] = min(prev[4], start)
            ringing[index] = hit
