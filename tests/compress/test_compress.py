"""Deep Compression on the embedded digits: masks, k-means, Huffman, relative indexing, the .nsc file, errors."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from helpers import max_abs_diff
from netslim.compress import (
    EncodeConfig,
    HuffmanCode,
    SharingConfig,
    SparsityConfig,
    absolute_index,
    encode_model,
    kmeans_1d,
    load_compressed,
    pack_bits,
    relative_index,
    save_compressed,
    share_weights_,
    shared_weight,
    sparsify_,
    strip_masks_,
    unpack_bits,
)
from netslim.data import Splits
from netslim.errors import ConfigError, DataError, ModelLoadError
from netslim.models import build_model
from netslim.train import TrainConfig, evaluate, train_

TINY = TrainConfig(epochs=2, lr=3e-3, batch_size=64)

pytestmark = pytest.mark.usefixtures("one_thread")


def entropy_bits(stream: np.ndarray) -> float:
    p = np.bincount(stream) / stream.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


@pytest.fixture(scope="module")
def mlp(digits: Splits) -> torch.nn.Module:
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny layers: one thread is fastest and does not fight other processes
    try:
        model = build_model("lenet_300_100", digits.input_shape)
        train_(model, digits, TrainConfig(epochs=4, lr=3e-3, batch_size=64))
    finally:
        torch.set_num_threads(threads)
    return model


def test_masks_hold_during_and_after_training(mlp, digits):
    model = copy.deepcopy(mlp)
    config = SparsityConfig(sparsity={"fc1": 0.92, "fc2": 0.91, "fc3": 0.74}, schedule=(0.5, 1.0))
    record = sparsify_(model, config.replace(finetune=TINY), data=digits)
    assert [r.name for r in record.layers] == ["fc1", "fc2", "fc3"]
    assert [round(1 - r.density, 2) for r in record.layers] == [0.92, 0.91, 0.74]
    before = {n: (m.weight != 0) for n, m in model.named_children() if n.startswith("fc")}
    train_(model, digits, TINY)  # a plain train_ keeps the masks: they live in a parametrization
    strip_masks_(model)
    for name, nonzero in before.items():
        weight = getattr(model, name).weight
        assert isinstance(weight, torch.nn.Parameter)
        assert not bool((weight[~nonzero] != 0).any()), name
    assert evaluate(model, digits.test).accuracy > 0.85


def test_global_scope_and_schedule_never_revive(mlp):
    model = copy.deepcopy(mlp)
    record = sparsify_(model, SparsityConfig(sparsity=0.8, scope="global", schedule=(0.25, 0.5, 1.0)))
    assert record.density == pytest.approx(0.2, abs=1e-3)
    assert len({round(r.density, 2) for r in record.layers}) > 1  # one threshold, different per-layer densities


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, {"fc1": 1.0}, "0.5"])
def test_invalid_sparsity_is_a_config_error(bad):
    with pytest.raises(ConfigError, match=r"SparsityConfig\.sparsity"):
        SparsityConfig(sparsity=bad)


def test_sparsity_glob_must_match(mlp):
    with pytest.raises(ConfigError, match="'conv\\*' matches no prunable layer"):
        sparsify_(copy.deepcopy(mlp), SparsityConfig(sparsity={"conv*": 0.5}))


@pytest.mark.parametrize("bits", [0, 9, 2.5, True])
def test_bits_outside_1_to_8_are_config_errors(bits):
    with pytest.raises(ConfigError, match=r"SharingConfig\.linear_bits.*1\.\.8"):
        SharingConfig(linear_bits=bits)


def test_kmeans_linear_init_and_sharing_reproduce_weights(mlp):
    x = torch.tensor([-1.0, -0.9, 0.1, 0.2, 0.9, 1.0])
    centroids, labels = kmeans_1d(x, 3)
    assert torch.allclose(centroids, torch.tensor([-0.95, 0.15, 0.95]))
    assert labels.tolist() == [0, 0, 1, 1, 2, 2]

    model = copy.deepcopy(mlp)
    sparsify_(model, SparsityConfig(sparsity=0.9))
    zeros = model.fc1.weight == 0
    record = share_weights_(model, SharingConfig(linear_bits=4))
    weight = shared_weight(model.fc1)
    table = torch.cat([torch.zeros(1), model.fc1.weight_codebook.detach()])
    assert torch.equal(weight, table[model.fc1.weight_index.long()])  # centroids + indices give the weights
    assert torch.equal(weight == 0, zeros)  # zeros stay pruned
    assert weight.unique().numel() <= 16
    assert all(row.sqnr_db > 15 for row in record.layers)


def test_centroid_finetuning_sums_grouped_gradients(mlp, digits):
    model = copy.deepcopy(mlp)
    share_weights_(model, SharingConfig(linear_bits=3))
    x, y = next(iter(digits.train.batches(32, shuffle=False, seed=0)))
    weight = shared_weight(model.fc2).detach().requires_grad_(True)  # per-weight gradients, grouped by hand below
    hidden = torch.nn.functional.linear(model[:3](x), weight, model.fc2.bias)
    torch.nn.functional.cross_entropy(model.fc3(model.act2(hidden)), y).backward()
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    assert weight.grad is not None
    expected = torch.zeros(8).index_add_(0, model.fc2.weight_index.long().flatten(), weight.grad.flatten())[1:]
    assert torch.allclose(model.fc2.weight_codebook.grad, expected, atol=1e-6)
    index_before = model.fc2.weight_index.clone()
    train_(model, digits, TINY)
    assert torch.equal(model.fc2.weight_index, index_before)
    assert shared_weight(model.fc2).unique().numel() <= 8


@pytest.mark.parametrize("kind", ["uniform", "skewed", "single"])
def test_huffman_round_trip_and_optimality(kind):
    rng = np.random.default_rng(0)
    stream = {
        "uniform": rng.integers(0, 32, 5000),
        "skewed": np.minimum(rng.geometric(0.4, 5000) - 1, 255),
        "single": np.full(100, 7),
    }[kind]
    code = HuffmanCode.from_stream(stream, 256)
    data, nbits = code.encode(stream)
    assert math.ceil(nbits / 8) == len(data)
    assert np.array_equal(code.decode(data, stream.size), stream)
    average = nbits / stream.size
    assert entropy_bits(stream) <= average < entropy_bits(stream) + 1 or (kind == "single" and average == 1)
    assert (np.exp2(-code.lengths[code.lengths > 0].astype(float)).sum()) <= 1.0  # Kraft: a prefix code


def test_huffman_truncated_stream_is_a_data_error():
    stream = np.arange(16).repeat(4)
    code = HuffmanCode.from_stream(stream, 16)
    data, _ = code.encode(stream)
    with pytest.raises(DataError, match="truncated or corrupt"):
        code.decode(data[:-3], stream.size)


def test_bit_packing_round_trip():
    values = np.random.default_rng(1).integers(0, 32, 1001)
    assert np.array_equal(unpack_bits(pack_bits(values, 5), 5, values.size), values)


@pytest.mark.parametrize("gap_bits", [1, 3, 5, 8])
def test_relative_index_round_trip_with_gap_overflow(gap_bits):
    rng = np.random.default_rng(gap_bits)
    flat = np.where(rng.random(3000) < 0.03, rng.integers(1, 16, 3000), 0)
    flat[-1] = 0
    flat[2000:2600] = 0  # one long run: overflows every gap width tested
    gaps, values = relative_index(flat, gap_bits)
    assert int(gaps.max()) <= 2**gap_bits and int(gaps.min()) >= 1
    fillers = int((values == 0).sum())
    assert fillers == values.size - np.count_nonzero(flat) and (gap_bits > 8 or fillers > 0)
    assert np.array_equal(absolute_index(gaps, values, flat.size), flat)


def _compressed(model: torch.nn.Module) -> torch.nn.Module:
    model = copy.deepcopy(model)
    sparsify_(model, SparsityConfig(sparsity={"fc1": 0.92, "fc2": 0.9, "fc3": 0.7}))
    share_weights_(model, SharingConfig(linear_bits=5))
    return model


@pytest.mark.parametrize("name", ["seed_mlp", "lenet_300_100", "lenet_5"])
@pytest.mark.parametrize("huffman", [True, False])
def test_save_load_is_exact_and_size_is_the_file(tmp_path, digits, name, huffman):
    model = build_model(name, digits.input_shape)
    sparsify_(model, SparsityConfig(sparsity=0.8))
    share_weights_(model, SharingConfig(conv_bits=6, linear_bits=4))
    path = tmp_path / "model.nsc"
    written = save_compressed(model, path, EncodeConfig(huffman=huffman))
    assert written == path.stat().st_size == len(encode_model(model, EncodeConfig(huffman=huffman)))
    loaded = load_compressed(path)
    for (n, a), (_, b) in zip(model.named_modules(), loaded.named_modules(), strict=True):
        if hasattr(b, "weight") and isinstance(b.weight, torch.Tensor):
            assert torch.equal(a.weight, b.weight), n  # decoding reproduces the shared weights exactly
    x = torch.from_numpy(digits.test.x[:64])
    assert torch.equal(model(x), loaded(x))


def test_huffman_beats_fixed_width_and_searched_gaps_beat_fixed(mlp, tmp_path):
    model = _compressed(mlp)
    fixed = len(encode_model(model, EncodeConfig(huffman=False)))
    huffman = len(encode_model(model))
    searched = len(encode_model(model, EncodeConfig(linear_gap_bits=None)))
    assert searched <= huffman < fixed


def test_fp16_dense_tensors(mlp, tmp_path, digits):
    model = _compressed(mlp)
    path = tmp_path / "half.nsc"
    smaller = save_compressed(model, path, EncodeConfig(dense_dtype="float16"))
    assert smaller < len(encode_model(model))
    x = torch.from_numpy(digits.test.x)
    with torch.no_grad():
        assert max_abs_diff(load_compressed(path)(x), model(x)) < 1e-2


def test_corrupt_and_truncated_files_name_the_file(mlp, tmp_path):
    path = tmp_path / "model.nsc"
    save_compressed(_compressed(mlp), path)
    data = path.read_bytes()
    cases = {
        "truncated.nsc": (data[: len(data) - 10], "truncated"),
        "flipped.nsc": (data[:-5] + bytes([data[-5] ^ 0xFF]) + data[-4:], "CRC-32"),
        "header.nsc": (data[:20] + b"\x00" + data[21:], "header CRC-32 mismatch"),
        "magic.nsc": (b"PK\x03\x04" + data[4:], "not a netslim .nsc file"),
        "empty.nsc": (b"", "not a netslim .nsc file"),
    }
    for name, (payload, reason) in cases.items():
        bad = tmp_path / name
        bad.write_bytes(payload)
        with pytest.raises(DataError, match=reason) as info:
            load_compressed(bad)
        assert str(bad) in str(info.value)
    with pytest.raises(ModelLoadError, match=str(path)):
        load_compressed(path, architecture={"zoo": "seed_mlp", "input_shape": [1, 8, 8], "num_classes": 10})
    with pytest.raises(ModelLoadError, match="cannot read"):
        load_compressed(tmp_path / "missing.nsc")


def test_configs_round_trip_as_data():
    from netslim.compress import DeepCompressionConfig

    config = DeepCompressionConfig(
        sparsity=SparsityConfig(sparsity={"fc*": 0.9}, schedule=(0.5, 1.0)),
        sharing=SharingConfig(conv_bits=6, overrides={"fc3": 6}),
        encode=EncodeConfig(linear_gap_bits=None, dense_dtype="float16"),
        recover=TrainConfig(epochs=3),
    )
    assert DeepCompressionConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match=r"SparsityConfig\.schedule"):
        SparsityConfig(schedule=(0.5, 0.9))
    with pytest.raises(ConfigError, match=r"EncodeConfig\.dense_dtype"):
        EncodeConfig(dense_dtype="int8")


def test_sizes_of_a_masked_model_leave_it_intact(mlp, digits):
    from netslim.compress import sparse_fp32_bytes

    model = copy.deepcopy(mlp)
    sparsify_(model, SparsityConfig(sparsity=0.9))
    x = torch.from_numpy(digits.test.x[:8])
    before = model(x)
    fp32 = 4 * sum(p.numel() for p in mlp.parameters())
    # 10% of the weights as (fp32 value + 5-bit gap) entries, plus a few fillers and the fp32 biases
    assert 0.1 * 37 / 32 < sparse_fp32_bytes(model, EncodeConfig()) / fp32 < 0.15
    data = encode_model(model)  # a masked (unshared) model saves with dense weights and stays masked
    assert torch.equal(model(x), before) and fp32 < len(data) < fp32 + 2000


def test_deep_compress_leaves_the_model_holding_what_its_file_holds(mlp, digits, tmp_path):
    from netslim.compress import DeepCompressionConfig, deep_compress_

    model = copy.deepcopy(mlp)
    config = DeepCompressionConfig(
        sparsity=SparsityConfig(sparsity={"fc1": 0.9, "fc2": 0.9, "fc3": 0.7}),
        prune_finetune=TINY.replace(epochs=1),
        sharing=SharingConfig(linear_bits=4),
        share_finetune=None,
        encode=EncodeConfig(dense_dtype="float16"),
    )
    record = deep_compress_(model, config, data=digits)
    report = record.report
    path = tmp_path / "model.nsc"
    assert save_compressed(model, path, config.encode) == record.bytes_after == report.stages[-1].bytes
    assert record.bytes_after == path.stat().st_size and record.bytes_before == report.stages[0].bytes
    assert [r.name for r in record.layers] == ["fc1", "fc2", "fc3"]
    assert all(r.change == "compressed" for r in record.layers)
    assert record["fc1"].bits == 4 and record["fc1"].density == pytest.approx(0.1, abs=1e-3)
    x = torch.from_numpy(digits.test.x)
    with torch.no_grad():
        assert torch.equal(load_compressed(path)(x), model(x))  # the in-place model is the file's model
    assert report.stages[-1].test_error == pytest.approx(100 * (1 - evaluate(model, digits.test).accuracy))
