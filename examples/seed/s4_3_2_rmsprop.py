"""Seed 4.3.2 (随机梯度下降法): the document's MLP compiled with RMSprop(learning_rate=0.01).

Keras trains it; netslim converts the same untrained model and trains the copy with its RMSprop at the same
learning rate (``TrainConfig(optimizer="rmsprop", lr=0.01)``), then compares test accuracy.
"""

import _common
import keras

import netslim
from netslim.models.keras_in import from_keras


def main() -> None:
    args = _common.parse(__doc__)
    data = _common.load(args)
    shape = _common.keras_shape(data)

    model = keras.Sequential([
        keras.layers.Flatten(input_shape=shape),
        keras.layers.Dense(128, activation='relu'),
        keras.layers.Dense(10, activation='softmax')
    ])  # fmt: skip

    optimizer = keras.optimizers.RMSprop(learning_rate=0.01)

    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    converted = from_keras(model)
    model.fit(_common.keras_x(data.train.x), data.train.y, epochs=args.epochs, batch_size=64, verbose=0)
    config = netslim.TrainConfig(optimizer="rmsprop", lr=0.01, epochs=args.epochs, batch_size=64)
    with _common.logits(converted):  # netslim trains on logits: the final softmax steps aside
        netslim.train_(converted, data, config)

    rows = [
        ("Keras RMSprop(0.01)", f"{_common.keras_accuracy(model, data.test):.4f}"),
        ("netslim rmsprop(0.01)", f"{netslim.evaluate(converted, data.test).accuracy:.4f}"),
    ]
    _common.table("netslim train_ on the converted model", ("training", "test accuracy"), rows)


if __name__ == "__main__":
    main()
