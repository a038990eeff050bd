"""Seed 4.1.3 (卷积层连接调整): the document's CNN and its deeper variant, trained in Keras, then pruned by netslim.

Both Keras models are trained briefly and converted; netslim profiles them (MACs, params) and measures accuracy on
the test set, then prunes half the channels of the original (every coupled layer sliced: conv -> flatten -> Dense),
fine-tunes it, exports it to ONNX (parity checked) and hands it back to Keras, where it gives the same accuracy.
"""

import copy
import tempfile
from pathlib import Path

import _common
import keras

import netslim
from netslim.data import example_batch
from netslim.models.keras_in import from_keras, to_keras


def main() -> None:
    args = _common.parse(__doc__)
    data = _common.load(args)
    shape, padding = _common.keras_shape(data), _common.padding(data)  # (28, 28, 1), 'valid' on MNIST

    # 原始卷积层连接 (the original conv stack)
    model = keras.Sequential([
        keras.layers.Conv2D(32, (3, 3), activation='relu', input_shape=shape, padding=padding),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Conv2D(64, (3, 3), activation='relu', padding=padding),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation='relu'),
        keras.layers.Dense(10, activation='softmax')
    ])  # fmt: skip
    # 优化后的卷积层连接 (the deeper conv stack)
    deeper = keras.Sequential([
        keras.layers.Conv2D(32, (3, 3), activation='relu', input_shape=shape, padding=padding),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Conv2D(64, (3, 3), activation='relu', padding=padding),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Conv2D(128, (3, 3), activation='relu', padding=padding),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation='relu'),
        keras.layers.Dense(10, activation='softmax')
    ])  # fmt: skip
    for net in (model, deeper):
        _common.fit(net, data, args.epochs)

    original, deep = from_keras(model), from_keras(deeper)
    pruned = copy.deepcopy(original)
    netslim.prune_(pruned, netslim.PruneConfig(ratio=0.5), data=data)
    with _common.logits(pruned):  # netslim trains on logits: the final softmax steps aside
        netslim.finetune_(pruned, netslim.TrainConfig(epochs=args.epochs, lr=1e-3), data=data)

    rows = []
    for name, net in (("Keras original", original), ("Keras deeper", deep), ("netslim pruned 50%", pruned)):
        found = netslim.profile(net, measure_latency=False)
        accuracy = netslim.evaluate(net, data.test).accuracy
        rows.append((name, f"{found.total_params:,}", f"{found.total_macs:,}", f"{accuracy:.4f}"))
    _common.table("netslim: converted and pruned", ("model", "params", "MACs", "test accuracy"), rows)

    back = to_keras(pruned)
    print(f"netslim -> Keras: pruned model test accuracy in Keras {_common.keras_accuracy(back, data.test):.4f}")
    with tempfile.TemporaryDirectory() as tmp:
        example = example_batch(data)
        record = netslim.export_onnx(pruned, example, Path(tmp) / "pruned.onnx")
        print(f"netslim export_onnx: {record.bytes:,} bytes, max |onnx - torch| {record.parity.max_abs_diff:.1e}")


if __name__ == "__main__":
    main()
