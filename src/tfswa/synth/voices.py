"""Speech sources for the singer: espeak-ng and Festival voices, and recorded human speech, as words.

A :class:`SpeechVoice` names one speaker; a :class:`VoiceBank` turns ``(voice, word)`` into mono speech at
:data:`SPEECH_RATE` and caches it (one bank per process). Words come from per-language lexicons (:func:`lexicon`):
short singable English words, or pseudo-words of simple syllables that every language's letter-to-sound rules read.
Recorded voices (for example the spoken channel names shipped in ``alsa-utils``) are split at pauses into words.

Arrays are mono float64 ``(N,)``: N samples at :data:`SPEECH_RATE`.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tfswa.synth.render_fluidsynth import SynthError

SPEECH_RATE = 22050  # analysis rate of every speech source (WORLD features at 5 ms frames)
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")
FESTIVAL_VOICES = Path("/usr/share/festival/voices")

ENGLISH_WORDS = (
    "love", "night", "heart", "fire", "light", "day", "way", "stay", "away", "home", "alone", "tonight", "baby",
    "feel", "real", "dream", "rain", "pain", "again", "time", "mine", "shine", "sky", "fly", "high", "cry", "why",
    "know", "go", "slow", "glow", "soul", "gold", "cold", "hold", "told", "run", "sun", "one", "done", "young",
    "free", "see", "me", "be", "sea", "ocean", "water", "river", "ever", "never", "forever", "together", "wonder",
    "hands", "eyes", "lies", "rise", "skies", "city", "lights", "streets", "dance", "chance", "fall", "call",
    "all", "wall", "down", "town", "around", "sound", "ground", "found", "shadow", "morning", "evening", "summer",
    "winter", "hello", "goodbye", "yeah", "oh", "hey", "whoa", "so", "just", "still", "want", "need", "breathe",
    "believe", "leave", "give", "live", "sing", "ring", "wings", "kiss", "miss", "this", "yes", "stars", "hearts",
    "fast", "last", "past", "lost", "cross", "touch", "much", "such", "sweet", "street", "feet", "meet", "first",
    "burn", "turn", "learn", "world", "girl", "boy", "joy", "voice", "choice", "move", "groove", "true", "you",
)
BACKING_SYLLABLES = {"en": ("ooh", "ah", "oh", "mm"), "default": ("u", "a", "o", "ma")}
_ONSETS = ("", "", "b", "d", "f", "g", "k", "l", "l", "m", "m", "n", "p", "r", "s", "s", "t", "v", "ch", "sh", "st")
_VOWELS = ("a", "a", "e", "i", "o", "o", "u", "ai", "ei")
_CODAS = ("", "", "", "n", "l", "s", "r", "m", "t")


@dataclass(frozen=True)
class SpeechVoice:
    """One speaker: ``engine`` espeak | festival | recorded, ``ident`` what the engine needs to speak with it.

    espeak: ``"<language>+<variant>"``; festival: the voice name (``kal_diphone``); recorded: a folder or file glob.
    ``low``/``high`` is the singer's comfortable MIDI range; ``heldout`` voices never sing in a training corpus.
    """

    name: str
    engine: str
    ident: str
    language: str
    low: int
    high: int
    heldout: bool = False

    @property
    def low_register(self) -> bool:
        """A voice whose speaking range is low (the male voices): preferred for low-register songs."""
        return self.low < 50


def _espeak(language: str, variant: str, female: bool, heldout: bool = False) -> SpeechVoice:
    low, high = (55, 79) if female else (45, 69)
    return SpeechVoice(f"espeak:{language}+{variant}", "espeak", f"{language}+{variant}", language.split("-")[0],
                       low, high, heldout)


_ESPEAK_LANGUAGES = ("en-us", "en-gb", "de", "fr-fr", "es", "it", "pt-br", "nl", "sv", "pl", "ro", "cs", "fi")
_ESPEAK_MALE = ("m1", "m2", "m4", "m5", "m6", "m7", "klatt", "klatt2", "Andy", "Mario", "david", "edward", "max",
                "paul", "rob", "john")
_ESPEAK_FEMALE = ("f1", "f2", "f3", "f5", "klatt3", "Annie", "linda", "anika", "belinda", "steph", "aunty")
_ESPEAK_HELDOUT = (("m3", False), ("f4", True), ("Michael", False), ("Alicia", True))

_FESTIVAL = (  # (voice, language, female, heldout)
    ("kal_diphone", "en", False, False),
    ("ked_diphone", "en", False, False),
    ("upc_ca_ona_hts", "ca", True, False),
    ("czech_dita", "cs", True, False),
    ("suo_fi_lj_diphone", "fi", True, False),
    ("hy_fi_mv_diphone", "fi", False, False),
    ("lp_diphone", "it", True, False),
    ("cmu_us_slt_arctic_hts", "en", True, True),
    ("pc_diphone", "it", False, True),
)


def catalogue() -> tuple[SpeechVoice, ...]:
    """Every synthetic voice (espeak-ng language × variant, Festival voices), training and held-out alike."""
    voices = [_espeak(lang, v, False) for lang in _ESPEAK_LANGUAGES for v in _ESPEAK_MALE]
    voices += [_espeak(lang, v, True) for lang in _ESPEAK_LANGUAGES for v in _ESPEAK_FEMALE]
    voices += [_espeak(lang, v, female, heldout=True) for lang in _ESPEAK_LANGUAGES for v, female in _ESPEAK_HELDOUT]
    for name, lang, female, heldout in _FESTIVAL:
        low, high = (55, 79) if female else (45, 69)
        voices.append(SpeechVoice(f"festival:{name}", "festival", name, lang, low, high, heldout))
    return tuple(voices)


def recorded_voice(source: str | Path = ALSA_SOUNDS, low: int = 45, high: int = 69) -> SpeechVoice:
    """A real recorded speaker from WAV files (a folder, or one file); always held out of training corpora."""
    return SpeechVoice(f"recorded:{Path(source).name}", "recorded", str(source), "en", low, high, heldout=True)


def available_voices(heldout: bool) -> tuple[SpeechVoice, ...]:
    """Voices of one side of the split whose engine is installed here (Festival voices need their Debian package)."""
    out = []
    have_espeak = shutil.which("espeak-ng") is not None
    have_festival = shutil.which("festival") is not None
    for voice in catalogue():
        if voice.heldout != heldout:
            continue
        installed = (FESTIVAL_VOICES / _festival_dir(voice.ident)).is_dir()
        if (voice.engine == "espeak" and have_espeak) or (voice.engine == "festival" and have_festival and installed):
            out.append(voice)
    if not out:
        raise SynthError("no speech synthesiser for the singer; install the Debian package espeak-ng "
                         "(and festival with festvox-* voices for more singers)")
    return tuple(out)


def _festival_dir(name: str) -> str:
    for lang_dir in FESTIVAL_VOICES.glob("*") if FESTIVAL_VOICES.is_dir() else ():
        if (lang_dir / name).is_dir():
            return f"{lang_dir.name}/{name}"
    return f"missing/{name}"


def lexicon(language: str, size: int = 96) -> tuple[str, ...]:
    """Words to sing in ``language``: English words, else pseudo-words of 1–2 simple syllables (fixed list)."""
    if language == "en":
        return ENGLISH_WORDS
    rng = np.random.default_rng([ord(c) for c in language])  # a fixed list per language
    words: list[str] = []
    while len(words) < size:
        syllables = int(rng.choice([1, 2], p=[0.6, 0.4]))
        word = "".join(str(rng.choice(_ONSETS)) + str(rng.choice(_VOWELS)) for _ in range(syllables))
        word += str(rng.choice(_CODAS))
        if word not in words:
            words.append(word)
    return tuple(words)


def backing_syllables(language: str) -> tuple[str, ...]:
    return BACKING_SYLLABLES.get(language, BACKING_SYLLABLES["default"])


def trim(x: np.ndarray, threshold_db: float = -40.0, pad: int = 220) -> np.ndarray:
    """``x`` without leading/trailing near-silence (10 ms blocks below ``threshold_db`` of the loudest block)."""
    block = 220
    n = len(x) // block
    if n == 0:
        return x
    level = np.sqrt(np.mean(x[: n * block].reshape(n, block) ** 2, axis=1))
    loud = np.flatnonzero(level > level.max() * 10 ** (threshold_db / 20))
    if loud.size == 0:
        return x[:0]
    return x[max(0, loud[0] * block - pad): min(len(x), (loud[-1] + 1) * block + pad)]


def split_words(x: np.ndarray, min_gap: float = 0.06, threshold_db: float = -35.0) -> list[np.ndarray]:
    """Split recorded speech (N,) at pauses of at least ``min_gap`` seconds into words."""
    block = 220  # 10 ms at SPEECH_RATE
    n = len(x) // block
    level = np.sqrt(np.mean(x[: n * block].reshape(n, block) ** 2, axis=1))
    loud = level > level.max() * 10 ** (threshold_db / 20)
    words, start, quiet = [], None, 0
    for i, is_loud in enumerate(loud):
        if is_loud:
            start = i if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet * block >= min_gap * SPEECH_RATE:
                words.append(x[max(0, start * block - 220): (i - quiet + 1) * block + 220])
                start, quiet = None, 0
    if start is not None:
        words.append(x[max(0, start * block - 220):])
    return [w for w in words if len(w) > 0.12 * SPEECH_RATE]


def _to_speech_rate(x: np.ndarray, sr: int, normalise: bool = True) -> np.ndarray:
    import soxr

    x = x.mean(axis=1) if x.ndim == 2 else x
    if sr != SPEECH_RATE:
        x = soxr.resample(x, sr, SPEECH_RATE)
    return _normalise(x) if normalise else x.astype(np.float64)


def _normalise(x: np.ndarray) -> np.ndarray:
    """Peak 0.5 (each word equally loud before the singer's dynamics)."""
    peak = float(np.abs(x).max()) if len(x) else 0.0
    return (x / peak * 0.5 if peak > 0 else x).astype(np.float64)


class VoiceBank:
    """Speaks words with the voices of :func:`catalogue` (or recorded ones), caching each ``(voice, word)``.

    Festival voices render their whole lexicon in one Festival run the first time they are used (Festival
    starts slowly; words then cost milliseconds). espeak-ng runs once per word.
    """

    def __init__(self) -> None:
        self._words: dict[tuple[str, str], np.ndarray] = {}  # Festival lexicons and recorded words
        self._takes: OrderedDict[tuple[str, str, tuple[str, ...]], np.ndarray] = OrderedDict()  # espeak takes
        self.max_take_words = 2000  # least recently used takes are dropped beyond this many words
        self._rates: dict[str, int] = {}  # native sample rate of each voice (its bandwidth is half of it)
        self._recorded: dict[str, tuple[np.ndarray, ...]] = {}

    def bandwidth(self, voice: SpeechVoice) -> float:
        """Highest frequency (Hz) the voice's speech holds: half its native rate, at most SPEECH_RATE / 2
        (known once the voice has spoken)."""
        return min(self._rates.get(voice.name, SPEECH_RATE), SPEECH_RATE) / 2

    def words(self, voice: SpeechVoice) -> tuple[str, ...]:
        """The words this voice can say: its language's lexicon, or the recorded words' labels."""
        if voice.engine == "recorded":
            return tuple(f"rec{i}" for i in range(len(self._recorded_words(voice))))
        return lexicon(voice.language)

    def prepare(self, voice: SpeechVoice, words: list[str]) -> tuple[str, ...]:
        """Speak a song's words; returns the take (pass it to :meth:`say`).

        espeak-ng says all the words of a take in one run, separated by long pauses that are cut apart again (a
        run per word costs a process start each). A word sounds a little different in another take, so its audio
        is keyed by the take: a song's speech depends on the song only, never on the songs rendered before it.
        Other engines say each word on its own; their take is ``()``.
        """
        if voice.engine != "espeak":
            for w in words:
                self.say(voice, w)
            return ()
        take = tuple(sorted(set(words)))
        if take and (voice.name, take[0], take) not in self._takes:
            pieces: list[np.ndarray] = []
            if len(take) > 1:
                ssml = "<speak>" + '<break time="700ms"/>'.join(take) + "</speak>"
                x, sr = self._run_espeak(voice, ssml, ssml=True)
                pieces = split_words(_to_speech_rate(x, sr, normalise=False), min_gap=0.45, threshold_db=-45.0)
            if len(pieces) != len(take):  # one word, or a word with a long pause inside: each alone
                pieces = [self._espeak(voice, w) for w in take]
            for w, piece in zip(take, pieces, strict=True):
                self._takes[(voice.name, w, take)] = trim(_normalise(piece))
            while len(self._takes) > self.max_take_words:
                self._takes.popitem(last=False)
        return take

    def say(self, voice: SpeechVoice, word: str, take: tuple[str, ...] = ()) -> np.ndarray:
        """Mono speech (N,) at :data:`SPEECH_RATE`, peak 0.5, silence trimmed (``take`` from :meth:`prepare`)."""
        if voice.engine == "espeak":
            key3 = (voice.name, word, take or (word,))
            if key3 not in self._takes:
                self.prepare(voice, list(take) if take else [word])
            self._takes.move_to_end(key3)
            return self._takes[key3]
        key = (voice.name, word)
        if key not in self._words:
            if voice.engine == "festival":
                needed = [w for w in (*lexicon(voice.language), *backing_syllables(voice.language), word)
                          if (voice.name, w) not in self._words]
                self._festival(voice, list(dict.fromkeys(needed)))
            elif voice.engine == "recorded":
                words = self._recorded_words(voice)
                self._words[key] = words[int(word[3:]) % len(words)] if word.startswith("rec") else words[0]
            else:
                raise SynthError(f"unknown speech engine {voice.engine!r}")
        return self._words[key]

    def _espeak(self, voice: SpeechVoice, word: str) -> np.ndarray:
        x, sr = self._run_espeak(voice, word)
        return trim(_to_speech_rate(x, sr))

    def _run_espeak(self, voice: SpeechVoice, text: str, ssml: bool = False) -> tuple[np.ndarray, int]:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise SynthError("espeak-ng is not installed; install the Debian package espeak-ng")
        cmd = [exe, "-v", voice.ident, "-s", "150", *(["-m"] if ssml else []), "--stdout", text]
        proc = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
        if proc.returncode != 0 or not proc.stdout:
            raise SynthError(f"espeak-ng failed for voice {voice.ident}: {proc.stderr.decode(errors='replace')[:200]}")
        x, sr = sf.read(io.BytesIO(proc.stdout), dtype="float64")
        self._rates[voice.name] = sr
        return x, sr

    def _festival(self, voice: SpeechVoice, words: list[str]) -> None:
        exe = shutil.which("festival")
        if exe is None:
            raise SynthError("festival is not installed; install the Debian packages festival and festvox-kallpc16k")
        with tempfile.TemporaryDirectory(prefix="tfswa-festival-") as tmp:
            script = [f"(voice_{voice.ident})"]
            for i, word in enumerate(words):
                script.append(f'(utt.save.wave (utt.synth (Utterance Text "{word}")) "{tmp}/{i}.wav" \'riff)')
            (Path(tmp) / "words.scm").write_text("\n".join(script) + "\n")
            proc = subprocess.run([exe, "-b", f"{tmp}/words.scm"], capture_output=True, check=False, timeout=600)
            for i, word in enumerate(words):
                path = Path(tmp) / f"{i}.wav"
                if not path.is_file():
                    raise SynthError(f"festival voice {voice.ident} failed (is its festvox package installed?): "
                                     f"{proc.stderr.decode(errors='replace').strip()[:200]}")
                x, sr = sf.read(path, dtype="float64")
                self._rates[voice.name] = sr
                self._words[(voice.name, word)] = trim(_to_speech_rate(x, sr))

    def _recorded_words(self, voice: SpeechVoice) -> tuple[np.ndarray, ...]:
        if voice.ident not in self._recorded:
            source = Path(voice.ident)
            files = sorted(source.glob("*.wav")) if source.is_dir() else [source]
            files = [f for f in files if f.is_file() and "noise" not in f.name.lower()]
            if not files:
                raise SynthError(f"{source}: no recorded speech found (the ALSA samples come with the Debian "
                                 "package alsa-utils)")
            words: list[np.ndarray] = []
            for f in files:
                x, sr = sf.read(f, dtype="float64")
                self._rates[voice.name] = min(sr, self._rates.get(voice.name, sr))
                words.extend(split_words(_to_speech_rate(x, sr)))
            if not words:
                raise SynthError(f"{source}: no words found in the recordings")
            self._recorded[voice.ident] = tuple(words)
        return self._recorded[voice.ident]
