"""Seed 4.1.2 (卷积核大小和步长调整): a 3x3 conv, and the same conv with a 5x5 kernel.

Keras builds both layers as the document writes them, each in a small classifier (conv -> global average pooling ->
Dense). netslim converts them, profiles them, makes the change on the converted original with
``set_kernel_(kernel_size=5)`` (a stride change is ``stride=2``) and hands the result back to Keras.
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
    shape, padding = _common.keras_shape(data), _common.padding(data)

    # 原始卷积层 (the original conv layer)
    conv1 = keras.layers.Conv2D(32, (3, 3), activation="relu", input_shape=shape, padding=padding)
    # 优化后的卷积层 (the optimized conv layer)
    conv2 = keras.layers.Conv2D(32, (5, 5), activation="relu", input_shape=shape, padding=padding)

    original, optimized = from_keras(classifier(conv1)), from_keras(classifier(conv2))
    edited = copy.deepcopy(original)
    config = netslim.KernelConfig(layers=(conv1.name,), kernel_size=5, padding=padding)
    record = netslim.set_kernel_(edited, config, data=data)

    rows = []
    for name, model in (("Keras 3x3", original), ("Keras 5x5", optimized), ("netslim set_kernel_ 5x5", edited)):
        found = netslim.profile(model, measure_latency=False)
        rows.append((name, found.layers[0].output_shape, f"{found.total_params:,}", f"{found.total_macs:,}"))
    _common.table("netslim profile (batch 1, NCHW)", ("model", "conv output", "params", "MACs"), rows)
    print(f"netslim set_kernel_: {record.layers[0].note or record.layers[0].change}")
    back = to_keras(edited)
    print(f"netslim -> Keras: {conv1.name} kernel {back.get_layer(conv1.name).kernel.shape}")


if __name__ == "__main__":
    main()
