"""Signal processing: STFT/iSTFT and the multichannel Wiener post-filter."""

from tfswa.dsp.stft import istft, stft
from tfswa.dsp.wiener import wiener

__all__ = ["istft", "stft", "wiener"]
