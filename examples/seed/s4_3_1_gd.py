"""Seed 4.3.1 (梯度下降法): the document's MLP compiled with SGD(learning_rate=0.01).

Keras trains it with its SGD (mini-batches); netslim converts the same untrained model and trains the copy with
full-batch gradient descent (``optimizer="gd"``: the exact gradient over the whole training set, one step per epoch)
and with mini-batch SGD at the document's learning rate, then compares test accuracy.
"""

import copy

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

    optimizer = keras.optimizers.SGD(learning_rate=0.01)

    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    untrained = from_keras(model)  # converted before Keras trains it: both start from the same weights
    model.fit(_common.keras_x(data.train.x), data.train.y, epochs=args.epochs, batch_size=64, verbose=0)

    full_batch, mini_batch = copy.deepcopy(untrained), copy.deepcopy(untrained)
    steps = 10 * args.epochs  # one full-batch step per epoch
    with _common.logits(full_batch):  # netslim trains on logits: the final softmax steps aside
        netslim.train_(full_batch, data, netslim.TrainConfig(optimizer="gd", lr=0.5, epochs=steps))
    with _common.logits(mini_batch):  # netslim trains on logits: the final softmax steps aside
        netslim.train_(
            mini_batch, data, netslim.TrainConfig(optimizer="sgd", lr=0.01, epochs=args.epochs, batch_size=64)
        )

    rows = [
        ("Keras SGD(0.01), batch 64", args.epochs, f"{_common.keras_accuracy(model, data.test):.4f}"),
        ("netslim gd (full batch, lr 0.5)", steps, f"{netslim.evaluate(full_batch, data.test).accuracy:.4f}"),
        ("netslim sgd(0.01), batch 64", args.epochs, f"{netslim.evaluate(mini_batch, data.test).accuracy:.4f}"),
    ]
    _common.table("netslim train_ on the converted model", ("training", "epochs", "test accuracy"), rows)


if __name__ == "__main__":
    main()
