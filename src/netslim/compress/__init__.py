"""Deep Compression (Han, Mao, Dally, ICLR 2016): magnitude pruning with retraining, k-means weight sharing with
centroid fine-tuning, canonical Huffman coding of cluster indices and relative sparse indices, and the ``.nsc``
single-file format that loads back into a runnable torch model.

Example:
    >>> from netslim.models import build_model
    >>> model = build_model("seed_mlp", (1, 8, 8))
    >>> fp32_bytes = 4 * sum(p.numel() for p in model.parameters())
    >>> _ = sparsify_(model, SparsityConfig(sparsity=0.9))
    >>> _ = share_weights_(model, SharingConfig(linear_bits=4))
    >>> len(encode_model(model)) * 10 < fp32_bytes
    True
"""

from netslim.compress.bits import absolute_index, pack_bits, relative_index, unpack_bits
from netslim.compress.huffman import HuffmanCode, huffman_lengths
from netslim.compress.nsc import EncodeConfig, encode_model, load_compressed, save_compressed
from netslim.compress.pipeline import (
    CompressionReport,
    DeepCompressionConfig,
    StageResult,
    deep_compress_,
    density_table,
    sparse_fp32_bytes,
)
from netslim.compress.sharing import (
    LayerSharing,
    SharingConfig,
    is_shared,
    kmeans_1d,
    share_weights_,
    shared_weight,
    unshare_,
)
from netslim.compress.sparsity import (
    PruneScope,
    SparsityConfig,
    prunable_layers,
    sparsify_,
    strip_masks_,
)

__all__ = [
    "CompressionReport",
    "DeepCompressionConfig",
    "EncodeConfig",
    "HuffmanCode",
    "LayerSharing",
    "PruneScope",
    "SharingConfig",
    "SparsityConfig",
    "StageResult",
    "absolute_index",
    "deep_compress_",
    "density_table",
    "encode_model",
    "huffman_lengths",
    "is_shared",
    "kmeans_1d",
    "load_compressed",
    "pack_bits",
    "prunable_layers",
    "relative_index",
    "save_compressed",
    "share_weights_",
    "shared_weight",
    "sparse_fp32_bytes",
    "sparsify_",
    "strip_masks_",
    "unpack_bits",
    "unshare_",
]
