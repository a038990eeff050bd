"""Seed 4.4.1 (整数量化): the document's MLP, its Dense layer "quantized" to integers.

The document casts the kernel to int32 (``tf.cast(kernel, tf.int32)``), which truncates every weight below 1 to 0.
netslim quantizes for real: int8 weights (per channel) and int8 activations calibrated on training images, with
``quantize_``, checks accuracy, and exports the int8 model to ONNX (QDQ) for ONNX Runtime. Keras trains the model.
"""

import tempfile
from pathlib import Path

import _common
import keras
import numpy as np

import netslim
from netslim.data import calibration_subset, example_batch
from netslim.models.keras_in import from_keras


def main() -> None:
    args = _common.parse(__doc__)
    data = _common.load(args)
    shape = _common.keras_shape(data)

    # 原始模型 (the original model)
    model = keras.Sequential([
        keras.layers.Flatten(input_shape=shape),
        keras.layers.Dense(128, activation='relu'),
        keras.layers.Dense(10, activation='softmax')
    ])  # fmt: skip
    _common.fit(model, data, args.epochs)

    # 整数量化 as the document writes it (in numpy: Keras 3 variables cannot be replaced by casts)
    kernel = model.layers[1].get_weights()[0]
    print(f"the document's int32 cast keeps {np.count_nonzero(kernel.astype(np.int32))} of {kernel.size} weights")

    net = from_keras(model)
    accuracy = netslim.evaluate(net, data.test).accuracy
    config = netslim.QuantConfig(weights="int8", activations="int8")
    record = netslim.quantize_(net, config, data=calibration_subset(data.train, 256))
    rows = [
        ("float32 (Keras)", f"{accuracy:.4f}"),
        ("netslim int8", f"{netslim.evaluate(net, data.test).accuracy:.4f}"),
    ]
    _common.table("netslim quantize_", ("model", "test accuracy"), rows)
    print("per layer SQNR (dB):", {row.name: round(row.sqnr_db or 0.0, 1) for row in record.layers})
    with tempfile.TemporaryDirectory() as tmp:
        exported = netslim.export_onnx(net, example_batch(data), Path(tmp) / "int8.onnx")
        print(
            f"netslim export_onnx: {exported.bytes:,} bytes (QDQ), top-1 agreement {exported.parity.argmax_agreement}"
        )


if __name__ == "__main__":
    main()
