"""Keras 3 models in and out: the seed document's models and a functional model with every converted layer equal to
Keras within 1e-5, `.keras` files, save/load, pruning, quantization, ONNX export, `to_keras`, clear errors, the seed
CNN trained on real MNIST, and the example scripts of examples/seed/."""

from __future__ import annotations

import copy
import os
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import netslim  # noqa: E402
from netslim.data import ArrayDataset  # noqa: E402
from netslim.errors import ConfigError, ModelLoadError, UnsupportedLayerError  # noqa: E402
from netslim.models import load_model, save_model  # noqa: E402
from netslim.models.graphnet import GraphNet  # noqa: E402
from netslim.models.keras_in import from_keras, import_keras, nchw_to_nhwc, nhwc_to_nchw, to_keras  # noqa: E402
from netslim.models.keras_layers import ACTIVATIONS  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning"),
    pytest.mark.filterwarnings("ignore:The structure of `inputs`:UserWarning"),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),  # Keras get/set_weights on torch
    pytest.mark.usefixtures("one_thread"),
]
L = keras.layers
TOLERANCE = 1e-5
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "seed"


def randomize(model: Any, seed: int = 0) -> Any:
    """Random weights everywhere (BatchNorm statistics included, variances positive) so parity means something."""
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        values = []
        for variable in layer.weights:
            value = rng.normal(0.0, 0.3, tuple(variable.shape)).astype(np.float32)
            values.append(np.abs(value) + 0.5 if "variance" in variable.path else value)
        if values:
            layer.set_weights(values)
    return model


def _all_layers(model: Any) -> list[Any]:
    found = []
    for layer in model.layers:
        found += _all_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return found


def keras_outputs(model: Any, x: np.ndarray) -> list[np.ndarray]:
    out = model(x, training=False)
    return [_numpy(o) for o in (out if isinstance(out, list | tuple) else [out])]


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else keras.ops.convert_to_numpy(value)


def torch_outputs(net: torch.nn.Module, x: np.ndarray) -> list[np.ndarray]:
    with torch.no_grad():
        out = net(torch.from_numpy(x))
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def keras_vs_graph(model: Any, net: GraphNet, x_keras: np.ndarray) -> float:
    """Max abs difference between Keras on its input and the GraphNet on the same data as it takes it (NCHW images;
    4D outputs compared after moving channels back last)."""
    x_net = nhwc_to_nchw(x_keras) if net.input_specs[0].get("source_layout") == "NHWC" else x_keras
    layouts = net.spec["source"]["output_layouts"]
    diffs = []
    for k, t, layout in zip(keras_outputs(model, x_keras), torch_outputs(net, x_net), layouts, strict=True):
        diffs.append(float(np.abs(k - (nchw_to_nhwc(t) if layout == "NCHW" else t)).max()))
    return max(diffs)


def images(shape: tuple[int, ...], n: int = 4, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


# --- the seed document's models (section -> builder), Keras 3 as close to its tf.keras code as possible ----------


def seed_conv(padding: str = "valid", kernel: int = 3) -> Any:  # 4.1.1 and 4.1.2: one conv layer
    return keras.Sequential(
        [L.Conv2D(32, (kernel, kernel), activation="relu", input_shape=(28, 28, 1), padding=padding)]
    )


def seed_cnn(deeper: bool = False) -> Any:  # 4.1.3
    extra = [L.Conv2D(128, (3, 3), activation="relu"), L.MaxPooling2D((2, 2))] if deeper else []
    return keras.Sequential(
        [
            L.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
            L.MaxPooling2D((2, 2)),
            L.Conv2D(64, (3, 3), activation="relu"),
            L.MaxPooling2D((2, 2)),
            *extra,
            L.Flatten(),
            L.Dense(128, activation="relu"),
            L.Dense(10, activation="softmax"),
        ]
    )


def seed_dense(units: int = 128, activation: str = "relu", l2: float | None = None) -> Any:  # 4.2.1 - 4.2.3
    regularizer = keras.regularizers.l2(l2) if l2 else None
    return keras.Sequential([L.Dense(units, activation=activation, input_shape=(784,), kernel_regularizer=regularizer)])


def seed_mlp() -> Any:  # 4.3 and 4.4
    return keras.Sequential(
        [L.Flatten(input_shape=(28, 28, 1)), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")]
    )


def functional() -> Any:
    """Every converted layer kind in one functional model: asymmetric 'same' padding, BN, depthwise (multiplier 2),
    separable, residual add, concat, 'same' pooling on odd maps, squeeze-excite multiply, merges, reshape/permute."""
    x = keras.Input((15, 15, 3), name="image")
    s = L.Rescaling(1 / 2.0, offset=-0.25)(x)
    a = L.Conv2D(8, 4, strides=2, padding="same", name="stem")(s)
    a = L.ReLU()(L.BatchNormalization()(a))
    d = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu6")(a)
    p = L.SeparableConv2D(8, 3, padding="same", activation="swish")(d)
    c = L.Concatenate()([L.Add()([a, p]), L.LeakyReLU(0.1)(p)])
    c = L.AveragePooling2D(3, strides=1, padding="same")(c)
    m = L.MaxPooling2D(2, padding="same")(c)
    se = L.Dense(16, activation="sigmoid")(L.GlobalAveragePooling2D(keepdims=True)(m))
    m = L.SpatialDropout2D(0.1)(L.ZeroPadding2D(((1, 0), (0, 2)))(L.Multiply()([m, se])))
    g1, g2 = L.GlobalAveragePooling2D()(m), L.GlobalMaxPooling2D()(m)
    g = L.Subtract()([L.Maximum()([g1, g2]), L.Minimum()([g1, g2])])
    g = L.Dropout(0.2)(L.BatchNormalization()(L.Average()([g, g1, g2])))
    h = L.Dense(5, activation="elu")(L.Permute((2, 1))(L.Reshape((4, 4))(g)))
    h = L.ReLU(max_value=3.0, threshold=0.1, negative_slope=0.05)(L.ELU(0.5)(L.Flatten()(h)))
    return keras.Model(x, L.Dense(10, activation="softmax", name="head")(L.Identity()(h)))


def residual() -> Any:
    """A prunable functional model: residual add through depthwise and separable convs, BN, global pooling."""
    x = keras.Input((12, 12, 3), name="image")
    a = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 4, strides=2, padding="same")(x)))
    d = L.DepthwiseConv2D(3, padding="same", activation="relu")(a)
    r = L.Add()([a, L.SeparableConv2D(16, 3, padding="same", activation="swish")(d)])
    g = L.GlobalAveragePooling2D()(L.MaxPooling2D(2)(r))
    return keras.Model(x, L.Dense(10, activation="softmax", name="head")(g))


SEED: dict[str, tuple[Callable[[], Any], tuple[int, ...]]] = {
    "4.1.1-valid": (lambda: seed_conv("valid"), (28, 28, 1)),
    "4.1.1-same": (lambda: seed_conv("same"), (28, 28, 1)),
    "4.1.2-kernel5": (lambda: seed_conv(kernel=5), (28, 28, 1)),
    "4.1.3-cnn": (seed_cnn, (28, 28, 1)),
    "4.1.3-deeper": (lambda: seed_cnn(deeper=True), (28, 28, 1)),
    "4.2.1-dense64": (lambda: seed_dense(64), (784,)),
    "4.2.2-tanh": (lambda: seed_dense(activation="tanh"), (784,)),
    "4.2.3-l2": (lambda: seed_dense(l2=0.001), (784,)),
    "4.3-mlp": (seed_mlp, (28, 28, 1)),
    "functional": (functional, (15, 15, 3)),
    "residual": (residual, (12, 12, 3)),
}


@pytest.mark.parametrize("name", list(SEED))
def test_converted_model_equals_keras(name: str) -> None:
    build, shape = SEED[name]
    model = randomize(build())
    net = from_keras(model)
    assert keras_vs_graph(model, net, images(shape)) < TOLERANCE
    if len(shape) == 3:
        assert net.input_specs[0] == {
            "name": model.inputs[0]._keras_history.operation.name,
            "shape": [shape[2], shape[0], shape[1]],
            "dtype": "float32",
            "layout": "NCHW",
            "source_layout": "NHWC",
        }


def test_seed_cnn_is_plain_nchw_with_reordered_dense_and_separate_activations() -> None:
    model = randomize(seed_cnn())
    net = from_keras(model)
    names = [layer.name for layer in model.layers]
    assert [n for n, _ in net.named_children()] == [
        names[0], f"{names[0]}_act", names[2], f"{names[2]}_act", names[5], f"{names[5]}_act", names[6],
        f"{names[6]}_act",
    ]  # fmt: skip
    assert [node["op"] for node in net.spec["nodes"] if node["op"] != "module"] == ["max_pool2d"] * 2 + ["flatten"]
    assert isinstance(getattr(net, f"{names[0]}_act"), torch.nn.ReLU)
    kernel = _numpy(model.layers[5].kernel.value)  # (5 * 5 * 64, 128) in (H, W, C) order
    weight = getattr(net, names[5]).weight.detach().numpy()  # (128, 64 * 5 * 5) in (C, H, W) order
    assert np.array_equal(weight[:, 1], kernel[64].T)  # torch feature 1 = channel 0 at (0, 1) = Keras feature 64


def test_every_keras_activation_string_and_relu_layer_variant() -> None:
    x = images((6,), n=8) * 8 - 4
    for name in ACTIVATIONS:
        model = randomize(keras.Sequential([keras.Input((6,)), L.Dense(7, activation=name)]))
        assert keras_vs_graph(model, from_keras(model), x) < TOLERANCE, name
    for kwargs in ({}, {"max_value": 6.0}, {"max_value": 2.5}, {"negative_slope": 0.1}, {"threshold": 0.5},
                   {"max_value": 1.0, "negative_slope": 0.2, "threshold": 0.3}):  # fmt: skip
        model = keras.Sequential([keras.Input((6,)), L.ReLU(**kwargs)])
        assert keras_vs_graph(model, from_keras(model), x) < TOLERANCE, kwargs
    conv = randomize(keras.Sequential([keras.Input((5, 5, 3)), L.Conv2D(4, 3, activation="softmax")]))
    assert keras_vs_graph(conv, from_keras(conv), images((5, 5, 3))) < TOLERANCE  # softmax over channels


def _tf_same_average(x: np.ndarray, pool: int, stride: int) -> np.ndarray:
    """TensorFlow's 'same' average pooling of (N, H, W, C), padding not counted (the reference)."""
    n, h, w, c = x.shape
    out_h, out_w = -(-h // stride), -(-w // stride)
    top = max((out_h - 1) * stride + pool - h, 0) // 2
    left = max((out_w - 1) * stride + pool - w, 0) // 2
    out = np.zeros((n, out_h, out_w, c), np.float32)
    for i in range(out_h):
        for j in range(out_w):
            r0, c0 = i * stride - top, j * stride - left
            window = x[:, max(r0, 0) : r0 + pool, max(c0, 0) : c0 + pool]
            out[:, i, j] = window.mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("size", [6, 7])
def test_same_pooling_windows_match_tensorflow(size: int) -> None:
    x = images((size, size, 2)) - 0.5
    for pool, stride in ((2, 1), (2, 2), (3, 1), (3, 2), (4, 3)):
        for cls in (L.MaxPooling2D, L.AveragePooling2D):
            model = keras.Sequential([keras.Input((size, size, 2)), cls(pool, strides=stride, padding="same")])
            net = from_keras(model)
            got = nchw_to_nhwc(torch_outputs(net, nhwc_to_nchw(x))[0])
            # Keras' torch backend agrees with TensorFlow on max pooling but pads asymmetric averages by repeating
            # edges, so averages are compared with TensorFlow's definition
            maximum = cls is L.MaxPooling2D
            want = keras_outputs(model, x)[0] if maximum else _tf_same_average(x, pool, stride)
            assert got.shape == want.shape and np.abs(got - want).max() < TOLERANCE, (cls.__name__, pool, stride)


def test_channels_first_model_and_nested_model() -> None:
    x = keras.Input((3, 9, 9))
    y = L.Conv2D(4, 3, padding="same", data_format="channels_first", activation="relu")(x)
    y = L.BatchNormalization(axis=1)(L.MaxPooling2D(2, padding="same", data_format="channels_first")(y))
    flat = L.Concatenate()([L.Flatten(data_format="channels_first")(y), L.Flatten()(y)])
    model = randomize(keras.Model(x, [L.Dense(5)(flat), y]))
    net = from_keras(model)
    assert net.input_specs[0]["source_layout"] == "NCHW"
    assert keras_vs_graph(model, net, images((3, 9, 9))) < TOLERANCE

    inner = keras.Sequential([keras.Input((6,)), L.Dense(4, activation="gelu"), L.Dense(3)], name="inner")
    vec = keras.Input((6,), name="vec")
    outer = randomize(keras.Model(vec, L.Add()([inner(vec), L.Dense(3)(vec)])))
    assert keras_vs_graph(outer, from_keras(outer), images((6,))) < TOLERANCE


def test_keras_file_is_read_by_path(tmp_path: Path) -> None:
    model = randomize(seed_cnn())
    path = tmp_path / "seed_cnn.keras"
    model.save(path)
    for given in (path, str(path)):
        assert keras_vs_graph(model, from_keras(given), images((28, 28, 1))) < TOLERANCE


def test_save_and_load_round_trip_is_bit_identical(tmp_path: Path) -> None:
    net = from_keras(randomize(functional()))
    x = torch.from_numpy(nhwc_to_nchw(images((15, 15, 3))))
    loaded = load_model(save_model(net, tmp_path / "model"))
    assert isinstance(loaded, GraphNet) and torch.equal(loaded(x), net(x))


def test_regularizers_are_recorded() -> None:
    net = from_keras(seed_dense(l2=0.001))
    (_, found), *_ = net.spec["source"]["regularizers"].items()
    assert found["kernel_regularizer"]["class_name"] == "L2"
    assert found["kernel_regularizer"]["config"]["l2"] == pytest.approx(0.001)


@pytest.mark.parametrize("name", ["4.1.3-cnn", "residual"])
def test_pruning_removes_macs_and_to_keras_matches_the_pruned_model(name: str) -> None:
    build, shape = SEED[name]
    net = from_keras(randomize(build()))
    torch_shape = (shape[2], shape[0], shape[1])
    x = nhwc_to_nchw(images(shape))
    before = netslim.profile(net, torch_shape, measure_latency=False).total_macs
    netslim.prune_(net, netslim.PruneConfig(ratio=0.5), example=torch.from_numpy(x[:2]))
    after = netslim.profile(net, torch_shape, measure_latency=False).total_macs
    assert after < 0.6 * before, (before, after)
    back = to_keras(net)
    assert float(np.abs(keras_outputs(back, nchw_to_nhwc(x))[0] - torch_outputs(net, x)[0]).max()) < TOLERANCE


def test_to_keras_after_netslim_edits_matches() -> None:
    base = from_keras(randomize(seed_cnn()))
    x = nhwc_to_nchw(images((28, 28, 1)))
    example = torch.from_numpy(x[:2])
    acts = [n for n, m in base.named_children() if isinstance(m, torch.nn.ReLU)]
    convs = [n for n, m in base.named_children() if isinstance(m, torch.nn.Conv2d)]
    kernel = netslim.KernelConfig(convs[1:], kernel_size=5, padding="same")
    edits = [
        lambda m: netslim.swap_activation_(m, netslim.SwapActivationConfig({acts[-1]: "tanh"})),
        lambda m: netslim.set_kernel_(m, kernel, example=example),
        lambda m: netslim.separable_(m, netslim.SeparableConfig(), example=example),
    ]
    for edit in edits:
        net = copy.deepcopy(base)
        edit(net)
        out = keras_outputs(to_keras(net), nchw_to_nhwc(x))[0]
        assert float(np.abs(out - torch_outputs(net, x)[0]).max()) < TOLERANCE


def test_to_keras_of_the_unchanged_model_equals_the_original() -> None:
    model = randomize(functional())
    back = to_keras(from_keras(model))
    x = images((15, 15, 3))
    assert float(np.abs(keras_outputs(back, x)[0] - keras_outputs(model, x)[0]).max()) < TOLERANCE


def test_quantize_and_onnx_export_of_a_converted_model(tmp_path: Path) -> None:
    net = from_keras(randomize(seed_cnn()))
    x = nhwc_to_nchw(images((28, 28, 1), n=64))
    example = torch.from_numpy(x[:2])
    record = netslim.export_onnx(net, example, tmp_path / "float.onnx")
    assert (tmp_path / "float.onnx").is_file() and record is not None
    calibration = ArrayDataset(x, np.arange(64) % 10, name="random/calibration")
    quantized = netslim.quantize_(net, netslim.QuantConfig(weights="int8", activations="int8"), data=calibration)
    assert len(quantized.layers) > 0
    netslim.export_onnx(net, example, tmp_path / "int8.onnx")
    with pytest.raises(ConfigError, match="export_onnx"):
        to_keras(net)


def test_unsupported_layers_are_one_clear_error() -> None:
    lstm = keras.Sequential([keras.Input((5, 3)), L.LSTM(4, name="memory"), L.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match=r"'memory' \(LSTM\) is not a layer netslim converts.*Conv2D"):
        from_keras(lstm)
    lam = keras.Sequential([keras.Input((4,)), L.Lambda(lambda t: t * 2, name="double"), L.Dense(2, activation="glu")])
    with pytest.raises(UnsupportedLayerError, match=r"'double' \(Lambda\).*activation 'glu'"):
        from_keras(lam)


def test_loading_errors_name_the_file_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lam = keras.Sequential([keras.Input((4,)), L.Lambda(lambda t: t * 2)])
    lam.save(tmp_path / "lambda.keras")
    with pytest.raises(ModelLoadError, match=r"lambda\.keras: .*safe_mode"):
        from_keras(tmp_path / "lambda.keras")
    with pytest.raises(ModelLoadError, match="no such Keras model file"):
        from_keras(tmp_path / "missing.keras")
    with pytest.raises(ModelLoadError, match="subclassed"):
        from_keras(_Subclassed())
    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(ModelLoadError, match=r"pip install 'netslim\[keras\]'"):
        import_keras()


class _Subclassed(keras.Model):
    def call(self, x: Any) -> Any:
        return x


@pytest.mark.slow
def test_seed_cnn_trained_on_real_mnist_converts_exactly(mnist) -> None:
    torch.manual_seed(0)
    keras.utils.set_random_seed(0)
    model = seed_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(nchw_to_nhwc(mnist.train.x[:12000]), mnist.train.y[:12000], epochs=1, batch_size=128, verbose=0)
    net = from_keras(model)
    test = mnist.test.x[:2000]
    diff = float(np.abs(keras_outputs(model, nchw_to_nhwc(test))[0] - torch_outputs(net, test)[0]).max())
    assert diff < TOLERANCE
    keras_accuracy = float((keras_outputs(model, nchw_to_nhwc(test))[0].argmax(1) == mnist.test.y[:2000]).mean())
    accuracy = netslim.evaluate(net, ArrayDataset(test, mnist.test.y[:2000], name="mnist/test")).accuracy
    assert accuracy == pytest.approx(keras_accuracy) and accuracy > 0.9


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("s4_*.py")))
def test_seed_example_runs(script: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setattr(sys, "argv", [script, "--quick", "--data", "digits"])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    assert "netslim" in capsys.readouterr().out
