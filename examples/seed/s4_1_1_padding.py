"""Seed 4.1.1 (通道分辨率调整): a 3x3 conv with 'valid' padding, and the same conv with padding='same'.

Keras builds both layers as the document writes them, each in a small classifier (conv -> global average pooling ->
Dense). netslim converts them, profiles the conv's output size and the MACs, makes the document's change on the
converted original with ``set_kernel_(padding='same')`` and hands the result back to Keras with ``to_keras``.
"""

import copy

import _common
import keras

import netslim
from netslim.models.keras_in import from_keras, to_keras


def classifier(conv: keras.layers.Layer) -> keras.Model:
    return keras.Sequential([conv, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])


def main() -> None:
    args = _common.parse(__doc__)
    data = _common.load(args)
    shape = _common.keras_shape(data)  # (28, 28, 1) on MNIST

    # 原始卷积层 (the original conv layer)
    conv1 = keras.layers.Conv2D(32, (3, 3), activation="relu", input_shape=shape)
    # 优化后的卷积层 (the optimized conv layer)
    conv2 = keras.layers.Conv2D(32, (3, 3), activation="relu", input_shape=shape, padding="same")

    original, optimized = from_keras(classifier(conv1)), from_keras(classifier(conv2))
    edited = copy.deepcopy(original)  # netslim makes the document's change on the converted original
    netslim.set_kernel_(edited, netslim.KernelConfig(layers=(conv1.name,), padding="same"), data=data)

    rows = []
    for name, model in (("Keras 'valid'", original), ("Keras 'same'", optimized), ("netslim set_kernel_", edited)):
        found = netslim.profile(model, measure_latency=False)
        rows.append((name, found.layers[0].output_shape, f"{found.total_macs:,}"))
    _common.table("netslim profile (batch 1, NCHW)", ("model", "conv output", "MACs"), rows)
    back = to_keras(edited)
    print(f"netslim -> Keras: conv output {back.get_layer(conv1.name).output.shape} (NHWC)")


if __name__ == "__main__":
    main()
