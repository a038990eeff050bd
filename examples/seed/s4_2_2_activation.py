"""Seed 4.2.2 (激活函数调整): a Dense layer with relu, and the same layer with tanh.

Keras trains both as the hidden layer of the document's MLP (4.3's head added); netslim converts the relu model (its
activation is its own layer, ``<dense>_act``), swaps it for tanh with ``swap_activation_``, fine-tunes it and compares
it with the tanh model Keras trained from scratch. ``to_keras`` gives the swapped model back to Keras.
"""

import _common
import keras

import netslim
from netslim.models.keras_in import from_keras, to_keras


def main() -> None:
    args = _common.parse(__doc__)
    data = _common.flat(_common.load(args))
    features = data.input_shape

    # 原始全连接层 (the original dense layer)
    dense1 = keras.layers.Dense(128, activation="relu", input_shape=features)
    # 优化后的全连接层 (the optimized dense layer)
    dense2 = keras.layers.Dense(128, activation="tanh", input_shape=features)

    with_relu = keras.Sequential([dense1, keras.layers.Dense(10, activation="softmax")])
    with_tanh = keras.Sequential([dense2, keras.layers.Dense(10, activation="softmax")])
    for model in (with_relu, with_tanh):
        _common.fit(model, data, args.epochs)

    swapped = from_keras(with_relu)
    record = netslim.swap_activation_(swapped, netslim.SwapActivationConfig({f"{dense1.name}_act": "tanh"}))
    before = netslim.evaluate(swapped, data.test).accuracy
    with _common.logits(swapped):  # netslim trains on logits: the final softmax steps aside
        netslim.finetune_(swapped, netslim.TrainConfig(epochs=args.epochs, lr=1e-3), data=data)

    rows = [
        ("Keras relu", f"{netslim.evaluate(from_keras(with_relu), data.test).accuracy:.4f}"),
        ("Keras tanh", f"{netslim.evaluate(from_keras(with_tanh), data.test).accuracy:.4f}"),
        ("netslim swap -> tanh", f"{before:.4f}"),
        ("netslim swap + fine-tune", f"{netslim.evaluate(swapped, data.test).accuracy:.4f}"),
    ]
    _common.table(f"netslim swap_activation_: {record.layers[0].note}", ("model", "test accuracy"), rows)
    back = to_keras(swapped)
    print(f"netslim -> Keras: {[type(layer).__name__ for layer in back.layers]}")


if __name__ == "__main__":
    main()
