"""Building blocks shared by the TFSWA models. Imports nothing from data, training, serving or the CLI."""

from tfswa.layers.conv import ChannelLayerNorm, ConvBlock, DownSample, ResidualConvModule, UpSample
from tfswa.layers.seq_attention import MultiHeadSelfAttention, SequenceTransformer
from tfswa.layers.subbands import merge_bands, split_bands
from tfswa.layers.swin import SwinBlock, WindowAttention
from tfswa.layers.tfswa import ParallelTFSWABlock, SequentialTFSWAModule
from tfswa.layers.windows import crop, tracing

__all__ = [
    "ChannelLayerNorm",
    "ConvBlock",
    "DownSample",
    "MultiHeadSelfAttention",
    "ParallelTFSWABlock",
    "ResidualConvModule",
    "SequenceTransformer",
    "SequentialTFSWAModule",
    "SwinBlock",
    "UpSample",
    "WindowAttention",
    "crop",
    "merge_bands",
    "split_bands",
    "tracing",
]
