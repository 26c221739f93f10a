"""Compress stage: float `Graph` (+ data) -> a `Plan` -> quantized graph + layouts.

    result = compress("model.keras", CompressOptions(bits=4, sparsity=0.9), data)
"""
from tinycompress.compress.core import CompressOptions, Compressed, compress

__all__ = ["compress", "CompressOptions", "Compressed"]
