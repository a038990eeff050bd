"""Seed 4.2.3 (批量正则化): a Dense layer, and the same layer with kernel_regularizer=l2(0.001).

Keras trains both as the hidden layer of the document's MLP (4.3's head added). netslim converts the regularized
model, finds its regularizer recorded in the converted spec, and fine-tunes with the same penalty (``TrainConfig.l2``
adds ``0.001 * sum(w**2)`` of that layer, Keras' semantics), then prunes 50% of its units.
"""

import _common
import keras

import netslim
from netslim.models.keras_in import from_keras


def main() -> None:
    args = _common.parse(__doc__)
    data = _common.flat(_common.load(args))
    features = data.input_shape

    # 原始全连接层 (the original dense layer)
    dense1 = keras.layers.Dense(128, activation="relu", input_shape=features)
    # 优化后的全连接层 (the optimized dense layer)
    dense2 = keras.layers.Dense(128, activation='relu', input_shape=features, kernel_regularizer=keras.regularizers.l2(0.001))  # fmt: skip  # noqa: E501

    plain = keras.Sequential([dense1, keras.layers.Dense(10, activation="softmax")])
    regularized = keras.Sequential([dense2, keras.layers.Dense(10, activation="softmax")])
    for model in (plain, regularized):
        _common.fit(model, data, args.epochs)

    net = from_keras(regularized)
    found = net.spec["source"]["regularizers"]
    penalty = found[dense2.name]["kernel_regularizer"]["config"]["l2"]
    print(f"netslim from_keras recorded: {found}")
    config = netslim.TrainConfig(epochs=args.epochs, lr=1e-3, l2=penalty, regularize_layers=(dense2.name,))
    with _common.logits(net):  # netslim trains on logits: the final softmax steps aside
        netslim.finetune_(net, config, data=data)
    tuned = netslim.evaluate(net, data.test).accuracy
    netslim.prune_(net, netslim.PruneConfig(ratio=0.5), data=data)
    with _common.logits(net):  # netslim trains on logits: the final softmax steps aside
        netslim.finetune_(net, config, data=data)

    rows = [
        ("Keras", f"{netslim.evaluate(from_keras(plain), data.test).accuracy:.4f}"),
        ("Keras l2(0.001)", f"{netslim.evaluate(from_keras(regularized), data.test).accuracy:.4f}"),
        ("netslim fine-tune, same l2", f"{tuned:.4f}"),
        ("netslim pruned 50% + l2", f"{netslim.evaluate(net, data.test).accuracy:.4f}"),
    ]
    _common.table("netslim: the regularized model", ("model", "test accuracy"), rows)


if __name__ == "__main__":
    main()
