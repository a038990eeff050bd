"""Seed 4.2.1 (节点数调整): a Dense layer of 128 units, and one of 64.

Keras trains both as the hidden layer of the document's MLP (4.3's head added: Dense(10, softmax)); netslim converts
the 128-unit model, keeps its 64 most important units with ``resize_`` (the next layer's inputs follow), fine-tunes it
and compares it with the 64-unit model Keras trained from scratch.
"""

import _common
import keras

import netslim
from netslim.models.keras_in import from_keras


def main() -> None:
    args = _common.parse(__doc__)
    data = _common.flat(_common.load(args))
    features = data.input_shape  # (784,) on MNIST

    # 原始全连接层 (the original dense layer)
    dense1 = keras.layers.Dense(128, activation="relu", input_shape=features)
    # 优化后的全连接层 (the optimized dense layer)
    dense2 = keras.layers.Dense(64, activation="relu", input_shape=features)

    wide = keras.Sequential([dense1, keras.layers.Dense(10, activation="softmax")])
    narrow = keras.Sequential([dense2, keras.layers.Dense(10, activation="softmax")])
    for model in (wide, narrow):
        _common.fit(model, data, args.epochs)

    resized = from_keras(wide)
    netslim.resize_(resized, netslim.ResizeConfig({dense1.name: 64}), data=data)
    with _common.logits(resized):  # netslim trains on logits: the final softmax steps aside
        netslim.finetune_(resized, netslim.TrainConfig(epochs=args.epochs, lr=1e-3), data=data)

    rows = []
    for name, net in (
        ("Keras 128", from_keras(wide)),
        ("Keras 64", from_keras(narrow)),
        ("netslim resize_ 64", resized),
    ):
        found = netslim.profile(net, measure_latency=False)
        rows.append((name, f"{found.total_params:,}", f"{netslim.evaluate(net, data.test).accuracy:.4f}"))
    _common.table("netslim: dense width", ("model", "params", "test accuracy"), rows)


if __name__ == "__main__":
    main()
