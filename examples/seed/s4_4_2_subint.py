"""Seed 4.4.2 (子整数量化): the document's MLP, its Dense layer rounded to a coarser integer grid.

The document rounds the kernel to multiples of 256 (``tf.cast(kernel / 256, tf.int32) * 256``), which zeroes every
weight. netslim's sub-8-bit quantization keeps a scale per output channel: 4-bit and 2-bit weight-only
``quantize_`` (no calibration data needed), compared on test accuracy and model bytes. Keras trains the model.
"""

import copy

import _common
import keras
import numpy as np

import netslim
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

    # 子整数量化 as the document writes it (in numpy)
    kernel = model.layers[1].get_weights()[0]
    print(
        f"the document's /256 grid keeps {np.count_nonzero((kernel / 256).astype(np.int32))} of {kernel.size} weights"
    )

    converted = from_keras(model)
    rows = [("float32 (Keras)", "32", f"{netslim.evaluate(converted, data.test).accuracy:.4f}")]
    for bits in ("int4", "int2"):
        net = copy.deepcopy(converted)
        record = netslim.quantize_(net, netslim.QuantConfig(weights=bits, activations=None))
        rows.append((f"netslim {bits} weights", bits[3:], f"{netslim.evaluate(net, data.test).accuracy:.4f}"))
        print(f"netslim {bits}: weight bytes {record.bytes_before:,} -> {record.bytes_after:,}")
    _common.table("netslim quantize_ (weight-only)", ("model", "bits", "test accuracy"), rows)


if __name__ == "__main__":
    main()
