"""What the seed examples share: the data, the command line, Keras training on netslim's data, a results table.

Data: real MNIST (28x28) when netslim finds it (NETSLIM_MNIST_DIR or ../shared/data/mnist), else the bundled 8x8
digits; ``--data digits|mnist`` chooses. netslim's datasets are NCHW float32; Keras gets them as NHWC
(``nchw_to_nhwc``). ``--quick`` trains one epoch on 512 samples (what the test of the examples runs).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
from torch import nn

from netslim.data import ArrayDataset, Splits, load_digits, load_mnist
from netslim.data.mnist import default_mnist_dir
from netslim.models.keras_in import nchw_to_nhwc

os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on PyTorch: no TensorFlow needed
# the document passes input_shape= to its first layer, which Keras 3 still accepts with a warning
warnings.filterwarnings("ignore", message="Do not pass an `input_shape`")


def parse(description: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(description or "").split("\n\n")[0])
    parser.add_argument("--data", choices=["digits", "mnist"], help="default: MNIST when found, else 8x8 digits")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (Keras and netslim)")
    parser.add_argument("--quick", action="store_true", help="512 training samples and one epoch")
    args = parser.parse_args()
    if args.quick:
        args.epochs = 1
    return args


def load(args: argparse.Namespace) -> Splits:
    found = default_mnist_dir()
    name = args.data or ("mnist" if found else "digits")
    if name == "mnist" and found is None:
        raise SystemExit("MNIST not found: set NETSLIM_MNIST_DIR or use --data digits")
    splits = load_mnist(found) if name == "mnist" and found is not None else load_digits(seed=0)
    if args.quick:
        splits = Splits(_head(splits.train, 512), _head(splits.val, 256), _head(splits.test, 256))
    print(f"data: {name}, {len(splits.train)} training images of {splits.input_shape} (NCHW)")
    return splits


def _head(ds: ArrayDataset, n: int) -> ArrayDataset:
    return ArrayDataset(ds.x[:n], ds.y[:n], name=f"{ds.name}[:{n}]")


def flat(splits: Splits) -> Splits:
    """The images as feature vectors (the document's ``input_shape=(784,)`` models)."""
    parts = [
        ArrayDataset(ds.x.reshape(len(ds), -1), ds.y, name=ds.name) for ds in (splits.train, splits.val, splits.test)
    ]
    return Splits(*parts)


def keras_shape(splits: Splits) -> tuple[int, ...]:
    """The document's ``input_shape=(28, 28, 1)``: this data's image shape, channels last."""
    channels, height, width = splits.input_shape
    return (height, width, channels)


def padding(splits: Splits) -> str:
    """The document's convs are 'valid' (28 -> 26 -> 13 ...); on 8x8 digits that runs out of pixels, so the
    examples use 'same' there."""
    return "valid" if splits.input_shape[-1] >= 28 else "same"


def keras_x(x: np.ndarray) -> np.ndarray:
    return nchw_to_nhwc(x) if x.ndim == 4 else x


def fit(model: Any, splits: Splits, epochs: int, optimizer: Any = "adam") -> None:
    """``model.compile`` + ``model.fit`` as in the document (sparse categorical cross-entropy on softmax outputs)."""
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(keras_x(splits.train.x), splits.train.y, epochs=epochs, batch_size=64, verbose=0)


def keras_accuracy(model: Any, ds: ArrayDataset) -> float:
    predicted = np.asarray(model.predict(keras_x(ds.x), verbose=0)).argmax(axis=1)
    return float((predicted == ds.y).mean())


def table(title: str, header: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    print(f"\n{title}")
    widths = [max(len(str(v)) for v in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print("  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))


@contextlib.contextmanager
def logits(net: nn.Module) -> Iterator[nn.Module]:
    """Train a converted Keras classifier on its logits: netslim's training applies the softmax inside its
    cross-entropy, so the model's own final softmax (Keras' ``activation='softmax'``) is set aside while training and
    put back afterwards (it does not change the predicted class)."""
    name, last = list(net.named_children())[-1]
    if not isinstance(last, nn.Softmax):
        yield net
        return
    setattr(net, name, nn.Identity())
    try:
        yield net
    finally:
        setattr(net, name, last)
