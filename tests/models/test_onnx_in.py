"""ONNX in: zoo models, hand-built graphs and transformer encoders converted to GraphNet and checked against ONNX
Runtime; the converted model saves, prunes, quantizes, exports and trains like a zoo model; bad inputs fail clearly."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

import netslim
from netslim.data import Splits, calibration_subset
from netslim.errors import ConfigError, ExportParityError, ModelLoadError, UnsupportedLayerError
from netslim.export import ExportConfig
from netslim.models import build_model, from_onnx, list_models, load_model, save_model
from netslim.models.graphnet import GraphNet
from netslim.models.onnx_in import check_parity
from netslim.models.onnx_probe import partition

ATOL = 1e-5  # converted vs ONNX Runtime, fp32


def max_diff(model: nn.Module, graph: onnx.ModelProto | str, *inputs: torch.Tensor) -> float:
    """The largest output difference between ``model`` and ONNX Runtime on ``graph`` (raises beyond ATOL)."""
    return check_parity(model, graph, inputs, atol=ATOL).max_abs_diff


def torch_export(
    model: nn.Module, example: torch.Tensor, *, opset: int = 17, axes: dict | None = None
) -> onnx.ModelProto:
    """``model`` exported by the TorchScript exporter, input axes ``axes`` symbolic (default: the batch), attention
    as composite ops (the fused fast path has no ONNX form), as netslim.export_onnx does."""
    buffer = io.BytesIO()
    axes = {0: "batch"} if axes is None else axes
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model.eval(), (example,), buffer, dynamo=False, opset_version=opset, input_names=["input"],
                output_names=["output"], dynamic_axes={"input": axes, "output": {0: "batch"}} if axes else None,
            )  # fmt: skip
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return onnx.load_from_string(buffer.getvalue())


def graph_model(nodes, shape, inits=None, *, opset: int = 17, dtype=TensorProto.FLOAT) -> onnx.ModelProto:
    """A one-input (``x``: [batch, *shape]) one-output (``y``) ONNX model."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", dtype, ["batch", *shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    model = onnx.shape_inference.infer_shapes(model)  # the output's shape, which the checker requires
    onnx.checker.check_model(model)
    return model


def node(op: str, inputs: list[str], output: str = "y", **attrs) -> onnx.NodeProto:
    return helper.make_node(op, inputs, [output], name=output, **attrs)


def modules(model: nn.Module, kind: type) -> list[str]:
    return [name for name, m in model.named_modules() if type(m) is kind]


def _rand(*shape: int) -> np.ndarray:
    return np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)


# ---- (a) every zoo model round-trips through ONNX
@pytest.mark.parametrize("name", [entry.name for entry in list_models()])
def test_zoo_model_converts_within_1e5_of_onnxruntime(name: str, tmp_path, one_thread) -> None:
    source = build_model(name, (1, 8, 8)).eval()
    path = tmp_path / f"{name}.onnx"
    netslim.export_onnx(source, torch.rand(2, 1, 8, 8), path)
    model = from_onnx(path)
    assert isinstance(model, GraphNet) and not model.training
    assert max_diff(model, str(path), torch.randn(3, 1, 8, 8)) <= ATOL
    graph = onnx.load(str(path)).graph
    weights = partition(graph).static  # initializers and what is computed from them (e.g. Identity copies)
    layers = [
        n for n in graph.node if n.op_type in ("Conv", "Gemm") or (n.op_type == "MatMul" and n.input[1] in weights)
    ]
    assert len(modules(model, nn.Conv2d) + modules(model, nn.Linear)) == len(layers)
    assert model.spec["source"] == {"format": "onnx", "file": str(path), "opset": 17}


@pytest.mark.parametrize("name", ["seed_cnn", "lenet_5", "res_cnn"])
def test_zoo_model_on_28x28_mnist_shape(name: str, tmp_path, one_thread) -> None:
    path = tmp_path / "m.onnx"
    netslim.export_onnx(build_model(name, (1, 28, 28)), torch.rand(2, 1, 28, 28), path)
    assert max_diff(from_onnx(path), str(path), torch.randn(2, 1, 28, 28)) <= ATOL


# ---- (b) a hand-built graph: asymmetric pads, Gemm transB=0, MatMul+Add, Concat, Clip, GlobalAveragePool
def test_hand_built_graph_maps_weights_to_layers() -> None:
    nodes = [
        node("Conv", ["x", "w", "cb"], "conv", pads=[0, 1, 1, 2], strides=[1, 1], kernel_shape=[3, 3]),
        node("Clip", ["conv", "lo", "hi"], "clip"),
        node("GlobalAveragePool", ["clip"], "gap"),
        node("Flatten", ["gap"], "flat"),
        node("Gemm", ["flat", "g", "gb"], "gemm", transB=0, alpha=0.5, beta=2.0),
        node("MatMul", ["flat", "m"], "mm"),
        node("Add", ["mm", "mb"], "lin"),
        node("Concat", ["gemm", "lin"], "y", axis=1),
    ]
    inits = {"w": _rand(4, 2, 3, 3), "cb": _rand(4), "lo": np.float32(-0.5), "hi": np.float32(0.5), "g": _rand(4, 3),
             "gb": _rand(3), "m": _rand(4, 5), "mb": _rand(5)}  # fmt: skip
    graph = graph_model(nodes, [2, 6, 7], inits)
    model = from_onnx(graph)
    ops = [n["op"] for n in model.spec["nodes"]]
    assert ops == ["pad", "module", "clip", "global_avg_pool", "flatten", "module", "module", "concat"]
    assert model.conv.padding == (0, 0) and model.spec["nodes"][0]["attrs"]["pads"] == [1, 2, 0, 1]
    assert modules(model, nn.Linear) == ["gemm", "mm"]  # the MatMul's Add is its bias
    assert model.mm.bias is not None and [n["name"] for n in model.spec["nodes"]][:2] == ["conv_pad", "conv"]
    assert max_diff(model, graph, torch.randn(3, 2, 6, 7)) <= ATOL


def test_unnamed_nodes_are_named_after_their_op() -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "g"], ["y"], transB=1),
    ]
    graph = graph_model(nodes, [1, 3, 3], {"w": _rand(2, 1, 3, 3), "g": _rand(4, 18)})
    model = from_onnx(graph)
    assert [n["name"] for n in model.spec["nodes"]] == ["conv_0", "relu_1", "flatten_2", "gemm_3"]
    assert modules(model, nn.Conv2d) == ["conv_0"] and modules(model, nn.Linear) == ["gemm_3"]


# the op catalogue: every parameter-free op and layer pattern, each a tiny graph checked against ONNX Runtime
def _chain(*ops: tuple[str, list[str], dict]) -> list[onnx.NodeProto]:
    """Nodes ``t0 -> t1 -> ... -> y``: each op's inputs are ``"$"`` (the previous tensor) or initializer names."""
    nodes, prev = [], "x"
    for i, (op, inputs, attrs) in enumerate(ops):
        out = "y" if i == len(ops) - 1 else f"t{i}"
        nodes.append(node(op, [prev if s == "$" else s for s in inputs], out, **attrs))
        prev = out
    return nodes


I64 = np.int64
CATALOGUE = {
    "activations": (
        _chain(
            ("Relu", ["$"], {}),
            ("LeakyRelu", ["$"], {"alpha": 0.2}),
            ("Elu", ["$"], {"alpha": 0.5}),
            ("Selu", ["$"], {}),
            ("HardSigmoid", ["$"], {}),
            ("HardSwish", ["$"], {}),
            ("Softplus", ["$"], {}),
            ("Tanh", ["$"], {}),
            ("Sigmoid", ["$"], {}),
            ("Erf", ["$"], {}),
            ("Neg", ["$"], {}),
            ("Exp", ["$"], {}),
            ("Abs", ["$"], {}),
            ("Sqrt", ["$"], {}),
            ("Softsign", ["$"], {}),
        ),
        [6],
        {},
        17,
    ),
    "torch_hardsigmoid": (_chain(("HardSigmoid", ["$"], {"alpha": 1 / 6})), [6], {}, 17),
    "gelu_tanh_opset20": (_chain(("Gelu", ["$"], {"approximate": "tanh"})), [6], {}, 20),
    "softmax": (_chain(("Softmax", ["$"], {"axis": 1}), ("LogSoftmax", ["$"], {})), [3, 5], {}, 17),
    "softmax_opset11": (_chain(("Softmax", ["$"], {})), [5], {}, 11),
    "arithmetic": (
        _chain(
            ("Add", ["$", "c"], {}),
            ("Sub", ["two", "$"], {}),
            ("Div", ["$", "two"], {}),
            ("Pow", ["$", "two"], {}),
            ("Mul", ["$", "v"], {}),
            ("Max", ["$", "c"], {}),
            ("Min", ["$", "v"], {}),
            ("Sum", ["$", "c", "v"], {}),
            ("Mean", ["$", "c"], {}),
            ("Div", ["$", "v"], {}),
        ),
        [3, 2, 2],
        {"c": _rand(3, 1, 1), "two": np.float32(2.0), "v": np.abs(_rand(2)) + 1},
        17,
    ),
    "clip_opset6": (_chain(("Clip", ["$"], {"min": -0.3, "max": 0.4})), [5], {}, 6),
    "pools": (
        _chain(
            ("MaxPool", ["$"], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 0, 1, 1], "ceil_mode": 1}),
            ("AveragePool", ["$"], {"kernel_shape": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
            ("AveragePool", ["$"], {"kernel_shape": [2, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
            ("GlobalMaxPool", ["$"], {}),
        ),
        [2, 9, 9],
        {},
        17,
    ),
    "conv_same_upper_strided": (
        _chain(("Conv", ["$", "w"], {"auto_pad": "SAME_UPPER", "strides": [2, 2]})),
        [2, 7, 7],
        {"w": _rand(3, 2, 3, 3)},
        17,
    ),
    "conv1d_grouped_dilated_bn_prelu": (
        _chain(
            ("Conv", ["$", "w", "b"], {"group": 2, "dilations": [2], "pads": [2, 2]}),
            ("BatchNormalization", ["$", "s", "b", "mu", "var"], {"epsilon": 1e-3}),
            ("PRelu", ["$", "slope"], {}),
            ("GlobalAveragePool", ["$"], {}),
        ),
        [4, 10],
        {
            "w": _rand(6, 2, 3),
            "b": _rand(6),
            "s": _rand(6),
            "mu": _rand(6),
            "var": np.abs(_rand(6)) + 0.5,
            "slope": _rand(6, 1),
        },
        17,
    ),
    "depthwise_conv_bn2d": (
        _chain(
            ("Conv", ["$", "w"], {"group": 3, "pads": [1, 1, 1, 1]}),
            ("BatchNormalization", ["$", "s", "b", "mu", "var"], {}),
            ("Flatten", ["$"], {"axis": 2}),
        ),
        [3, 5, 5],
        {"w": _rand(3, 1, 3, 3), "s": _rand(3), "b": _rand(3), "mu": _rand(3), "var": np.abs(_rand(3)) + 0.5},
        17,
    ),
    "batchnorm1d_on_features": (
        _chain(("BatchNormalization", ["$", "s", "b", "mu", "var"], {})),
        [4],
        {"s": _rand(4), "b": _rand(4), "mu": _rand(4), "var": np.abs(_rand(4)) + 0.5},
        17,
    ),
    "shapes": (
        _chain(
            ("Reshape", ["$", "shape"], {}),
            ("Transpose", ["$"], {"perm": [0, 2, 1]}),
            ("Unsqueeze", ["$", "ax1"], {}),
            ("Squeeze", ["$", "ax1"], {}),
            ("Unsqueeze", ["$", "ax1"], {}),
        ),
        [2, 8],
        {"shape": np.array([0, 4, 4], I64), "ax1": np.array([1], I64)},
        17,
    ),
    "squeeze_unsqueeze_opset11": (
        _chain(("Unsqueeze", ["$"], {"axes": [-1]}), ("Squeeze", ["$"], {"axes": [2]})),
        [5],
        {},
        11,
    ),
    "reductions": (
        _chain(
            ("ReduceMean", ["$"], {"axes": [2], "keepdims": 0}),
            ("ReduceSum", ["$", "ax"], {}),
            ("ReduceMax", ["$"], {"axes": [-1], "keepdims": 1}),
        ),
        [3, 4, 5],
        {"ax": np.array([1], I64)},
        17,
    ),
    "pad_identity_dropout_cast": (
        _chain(
            ("Pad", ["$", "pads", "val"], {}),
            ("Identity", ["$"], {}),
            ("Dropout", ["$"], {}),
            ("Cast", ["$"], {"to": TensorProto.INT64}),
            ("Cast", ["$"], {"to": TensorProto.FLOAT}),
        ),
        [2, 3],
        {"pads": np.array([0, 1, 0, 0, 2, 1], I64), "val": np.float32(0.5)},
        17,
    ),
    "slice_expand_gather": (
        _chain(
            ("Slice", ["$", "st", "en", "axes", "steps"], {}),
            ("Expand", ["$", "to"], {}),
            ("Gather", ["$", "idx"], {"axis": 2}),
            ("Gather", ["$", "one"], {"axis": 1}),
        ),
        [1, 9],
        {
            "st": np.array([1], I64),
            "en": np.array([100], I64),
            "axes": np.array([2], I64),
            "steps": np.array([2], I64),
            "to": np.array([1, 3, 4], I64),
            "idx": np.array([[3, 0], [1, 1]], I64),
            "one": np.array(-1, I64),
        },
        17,
    ),
    "matmul_with_constant_batch_weight": (
        _chain(("MatMul", ["$", "w3"], {}), ("MatMul", ["left", "$"], {})),
        [3, 4],
        {"w3": _rand(1, 4, 5), "left": _rand(6, 3)},
        17,
    ),
    "layer_normalization_without_bias": (
        _chain(("LayerNormalization", ["$", "g"], {"axis": -2})),
        [3, 4],
        {"g": _rand(3, 4)},
        17,
    ),
}


def _split_concat() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Split", ["x", "sizes"], ["a", "b"], name="split", axis=1),
        node("Concat", ["b", "a"], "y", axis=1),
    ]
    return graph_model(nodes, [5, 2], {"sizes": np.array([2, 3], I64)}, opset=13)


def _decomposed_layer_norm() -> onnx.ModelProto:
    nodes = [
        node("ReduceMean", ["x"], "mean", axes=[-1]),
        node("Sub", ["x", "mean"], "d"),
        node("Pow", ["d", "two"], "sq"),
        node("ReduceMean", ["sq"], "var", axes=[-1]),
        node("Add", ["var", "eps"], "ve"),
        node("Sqrt", ["ve"], "std"),
        node("Div", ["d", "std"], "n"),
        node("Mul", ["n", "g"], "scaled"),
        node("Add", ["scaled", "b"], "y"),
    ]
    inits = {"two": np.float32(2.0), "eps": np.float32(1e-5), "g": _rand(6), "b": _rand(6)}
    return graph_model(nodes, [4, 6], inits, opset=13)


def _dynamic_reshape_chain() -> onnx.ModelProto:
    """[B, T, H*D] -> [B, T, H, D] with the batch read by Shape/Gather/Unsqueeze/Concat at run time."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        node("Gather", ["shape", "zero"], "batch", axis=0),
        node("Unsqueeze", ["batch", "ax0"], "b1"),
        node("Concat", ["b1", "rest"], "target", axis=0),
        node("Reshape", ["x", "target"], "heads"),
        node("Transpose", ["heads"], "y", perm=[0, 2, 1, 3]),
    ]
    inits = {"zero": np.array(0, I64), "ax0": np.array([0], I64), "rest": np.array([5, 2, 3], I64)}
    return graph_model(nodes, [5, 6], inits)


CASES = {
    **{name: (lambda c=case: graph_model(c[0], c[1], c[2], opset=c[3])) for name, case in CATALOGUE.items()},
    "split_concat": _split_concat,
    "decomposed_layer_norm": _decomposed_layer_norm,
    "dynamic_reshape_chain": _dynamic_reshape_chain,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_catalogue_matches_onnxruntime(case: str) -> None:
    graph = CASES[case]()
    model = from_onnx(graph)
    shape = [d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim[1:]]
    assert max_diff(model, graph, torch.randn(3, *shape)) <= ATOL
    if case == "decomposed_layer_norm":
        assert [n["op"] for n in model.spec["nodes"]] == ["module"] and modules(model, nn.LayerNorm)
    if case == "dynamic_reshape_chain":
        assert model.spec["nodes"][0]["attrs"]["shape"] == [0, 5, 2, 3]


# ---- encoders: token ids in, dynamic batch and sequence
class TinyBert(nn.Module):
    """A BERT-like encoder written the way Hugging Face writes one: ``view(B, T, H, D)`` head splits, learned
    positions from ``arange(T)``, post-norm blocks, the first token's state classified."""

    def __init__(self, vocab: int = 50, dim: int = 32, heads: int = 4, depth: int = 2) -> None:
        super().__init__()
        self.tok, self.pos, self.norm = nn.Embedding(vocab, dim), nn.Embedding(64, dim), nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(
            nn.ModuleDict({k: nn.Linear(dim, dim) for k in "qkvo"} | {"up": nn.Linear(dim, 2 * dim),
                           "down": nn.Linear(2 * dim, dim), "ln1": nn.LayerNorm(dim), "ln2": nn.LayerNorm(dim)})
            for _ in range(depth)
        )  # fmt: skip
        self.heads, self.head = heads, nn.Linear(dim, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        batch, tokens = ids.shape
        x = self.norm(self.tok(ids) + self.pos(torch.arange(tokens)))
        for b in self.blocks:
            size = x.size(-1) // self.heads
            q, k, v = (b[n](x).view(batch, tokens, self.heads, size).transpose(1, 2) for n in "qkv")
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(size), dim=-1)
            x = b["ln1"](x + b["o"]((att @ v).transpose(1, 2).reshape(batch, tokens, -1)))
            x = b["ln2"](x + b["down"](nn.functional.gelu(b["up"](x))))
        return self.head(x[:, 0])


@pytest.mark.parametrize("opset", [14, 17])
def test_bert_like_encoder_converts(opset: int, one_thread) -> None:
    torch.manual_seed(0)
    graph = torch_export(TinyBert(), torch.randint(0, 50, (2, 12)), opset=opset, axes={0: "batch", 1: "seq"})
    model = from_onnx(graph, input_shapes={"input": [10]})
    assert model.spec["inputs"] == [{"name": "input", "shape": [10], "dtype": "int64", "layout": "tokens"}]
    assert len(modules(model, nn.LayerNorm)) == 5  # LayerNormalization at 17, the decomposed pattern at 14
    assert len(modules(model, nn.Linear)) == 13 and len(modules(model, nn.Embedding)) == 1  # positions folded
    assert max_diff(model, graph, torch.randint(0, 50, (5, 10))) <= ATOL


def test_tiny_transformer_on_token_ids_converts(one_thread) -> None:
    source = build_model("tiny_transformer", (16,), vocab_size=100)
    graph = torch_export(source, torch.randint(0, 100, (2, 16)))
    model = from_onnx(graph)
    assert modules(model, nn.Embedding) == ["embed"]
    assert max_diff(model, graph, torch.randint(0, 100, (5, 16))) <= ATOL


class TinyViT(nn.Module):
    """A ViT with a class token expanded to the batch (``Shape -> Expand`` in ONNX) and the fused-path encoder."""

    def __init__(self) -> None:
        super().__init__()
        self.patch, self.head = nn.Conv2d(1, 16, 4, 4), nn.Linear(16, 10)
        self.cls, self.pos = nn.Parameter(torch.randn(1, 1, 16)), nn.Parameter(torch.randn(1, 5, 16))
        layer = nn.TransformerEncoderLayer(16, 2, 32, 0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens], 1) + self.pos
        return self.head(self.encoder(tokens)[:, 0])


def test_vit_class_token_expanded_to_the_batch() -> None:
    graph = torch_export(TinyViT(), torch.rand(2, 1, 8, 8))
    model = from_onnx(graph)
    assert "expand_batch" in [n["op"] for n in model.spec["nodes"]]
    assert max_diff(model, graph, torch.randn(5, 1, 8, 8)) <= ATOL


# ---- (c) save / load
def test_save_load_round_trip_is_bit_identical(tmp_path) -> None:
    graph = torch_export(build_model("res_cnn", (1, 8, 8)), torch.rand(2, 1, 8, 8))
    model = from_onnx(graph)
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m")
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert again.spec == model.spec


# ---- (d) the converted model is a netslim model: prune, quantize, export, train
def test_converted_seed_cnn_prunes_quantizes_exports_and_trains(digits: Splits, tmp_path, one_thread) -> None:
    path = tmp_path / "seed.onnx"
    netslim.export_onnx(build_model("seed_cnn", (1, 8, 8)), torch.rand(2, 1, 8, 8), path)
    model = from_onnx(path)
    assert all(p.requires_grad for p in model.parameters())
    x = torch.as_tensor(digits.train.x[:2])
    macs = netslim.profile(model, (1, 8, 8), measure_latency=False).total_macs
    netslim.prune_(model, netslim.PruneConfig(ratio=0.5), example=x)
    assert netslim.profile(model, (1, 8, 8), measure_latency=False).total_macs < 0.6 * macs
    record = netslim.finetune_(model, netslim.TrainConfig(epochs=1, lr=3e-3), data=digits)
    assert record.verb == "finetune_"
    calib = calibration_subset(digits.train, 64, seed=0)
    quant = netslim.quantize_(model, netslim.QuantConfig(weights="int8", activations="int8"), data=calib)
    assert len(quant.layers) > 0
    exported = netslim.export_onnx(model, x, tmp_path / "q.onnx")
    assert exported.parity.ok


# ---- (e) clear errors
def test_corrupt_and_foreign_files_are_one_model_load_error(tmp_path) -> None:
    good = tmp_path / "good.onnx"
    netslim.export_onnx(build_model("seed_mlp", (1, 8, 8)), torch.rand(2, 1, 8, 8), good)
    corrupt, text = tmp_path / "corrupt.onnx", tmp_path / "notes.onnx"
    corrupt.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text.write_text("hello, this is not a model\n")
    for path in (corrupt, text, tmp_path / "missing.onnx"):
        with pytest.raises(ModelLoadError, match=path.name):
            from_onnx(path)


def test_unsupported_op_is_one_error_before_any_work(monkeypatch) -> None:
    nodes = [node("LRN", ["x"], "n", size=3), node("Relu", ["n"], "r"), node("TopK", ["r", "k"], "y", axis=1)]
    nodes[2].output.append("idx")
    graph = graph_model(nodes, [4, 3, 3], {"k": np.array([2], I64)})
    monkeypatch.setattr("netslim.models.onnx_in.probe", lambda *a: pytest.fail("probed before the op check"))
    with pytest.raises(UnsupportedLayerError) as info:
        from_onnx(graph)
    message = str(info.value)
    assert "'n'" in message and "'LRN'" in message and "1 more node(s): TopK" in message
    assert "Supported ops: Abs, Add" in message and "Conv" in message


def test_a_wrong_conversion_is_an_export_parity_error() -> None:
    graph = torch_export(build_model("seed_mlp", (1, 8, 8)), torch.rand(2, 1, 8, 8))
    model = from_onnx(graph)
    with torch.no_grad():
        model.fc1.weight[0, 0] += 1.0
    with pytest.raises(ExportParityError, match="differs from ONNX Runtime"):
        check_parity(model, graph, torch.randn(4, 1, 8, 8))


def test_input_shapes_must_fit_the_graph() -> None:
    graph = torch_export(build_model("seed_mlp", (1, 8, 8)), torch.rand(2, 1, 8, 8))
    with pytest.raises(ConfigError, match="does not fit"):
        from_onnx(graph, input_shapes={"input": [1, 8, 9]})
    with pytest.raises(ConfigError, match="not inputs"):
        from_onnx(graph, input_shapes={"pixels": [1, 8, 8]})


# ---- (f) a graph exported at batch 1 runs at any batch
def test_fixed_batch_graph_runs_at_batch_4(tmp_path) -> None:
    path = tmp_path / "b1.onnx"
    netslim.export_onnx(build_model("seed_cnn", (1, 8, 8)), torch.rand(1, 1, 8, 8), path,
                        ExportConfig(dynamic_batch=False))  # fmt: skip
    model = from_onnx(path)
    assert model(torch.randn(4, 1, 8, 8)).shape == (4, 10)
    assert max_diff(model, str(path), torch.randn(4, 1, 8, 8)) <= ATOL  # ONNX Runtime one sample at a time


def test_fixed_batch_reshape_to_one_row_becomes_a_flatten() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.fc = nn.Conv2d(1, 4, 3), nn.Linear(4 * 6 * 6, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.conv(x).reshape(1, -1))

    graph = torch_export(Net(), torch.rand(1, 1, 8, 8), axes={})
    model = from_onnx(graph)
    assert [n["op"] for n in model.spec["nodes"]] == ["module", "flatten", "module"]
    assert max_diff(model, graph, torch.randn(4, 1, 8, 8)) <= ATOL


def test_fixed_batch_pinned_by_its_ops_names_the_node_and_the_fix(tmp_path) -> None:
    path = tmp_path / "tt1.onnx"  # nn.MultiheadAttention at batch 1 folds the batch into [T, B*H, D] reshapes
    netslim.export_onnx(build_model("tiny_transformer", (1, 8, 8)), torch.rand(1, 1, 8, 8), path,
                        ExportConfig(dynamic_batch=False))  # fmt: skip
    with pytest.raises(ModelLoadError, match=r"tt1.onnx.*Reshape_3.*fixed batch of 1.*dynamic batch axis"):
        from_onnx(path)


def test_load_any_reads_an_onnx_path(tmp_path) -> None:
    from netslim.models import load_any

    path = tmp_path / "m.onnx"
    netslim.export_onnx(build_model("seed_mlp", (1, 8, 8)), torch.rand(2, 1, 8, 8), path)
    assert isinstance(load_any(str(path)), GraphNet)
