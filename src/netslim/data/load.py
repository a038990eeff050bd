"""``load_data(spec)``: the one front door the CLI uses to turn a data argument into ``Splits``."""

from __future__ import annotations

from pathlib import Path

from netslim.data.arrays import load_arrays
from netslim.data.dataset import Splits, split
from netslim.data.digits import load_digits
from netslim.data.folders import load_image_folder
from netslim.data.mnist import MNIST_ENV_VAR, default_mnist_dir, find_mnist_file, load_mnist
from netslim.data.text import Tokenizer, load_text_lines
from netslim.errors import DataError

ACCEPTED_FORMS = (
    "'digits' (scikit-learn's bundled 8x8 digits)",
    f"'mnist' (the MNIST found via ${MNIST_ENV_VAR} or shared/data/mnist)",
    "'mnist:DIR' or DIR holding MNIST IDX files",
    "FILE.npz with arrays x and y",
    "DIR with one subfolder of images per class",
    "FILE.txt or FILE.tsv with '<label>\\t<text>' lines",
)


def _unknown(spec: str, why: str) -> DataError:
    forms = "\n  ".join(ACCEPTED_FORMS)
    return DataError(f"data {spec!r}: {why}. Accepted forms:\n  {forms}")


def load_data(spec: str, *, seed: int = 0, tokenizer: Tokenizer | None = None) -> Splits:
    """Turn a data spec into train/val/test ``Splits`` (see ``ACCEPTED_FORMS``); splits are seeded by ``seed``;
    text lines are tokenized by ``tokenizer`` when given (a pretrained model's own).

    Example:
        >>> load_data("digits").num_classes
        10
        >>> load_data("mnist:/data/mnist").input_shape  # doctest: +SKIP
        (1, 28, 28)
    """
    if spec == "digits":
        return load_digits(seed=seed)
    if spec == "mnist":
        directory = default_mnist_dir()
        if directory is None:
            raise DataError(
                f"data 'mnist': no MNIST directory found (set ${MNIST_ENV_VAR} or place the IDX files in "
                "shared/data/mnist). Pass mnist:DIR with the directory that holds the four IDX files."
            )
        return load_mnist(directory, seed=seed)
    if spec.startswith("mnist:"):
        given = spec.removeprefix("mnist:")
        if not given:
            raise _unknown(spec, "mnist: needs a directory after the colon, e.g. mnist:/data/mnist")
        return load_mnist(given, seed=seed)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return split(load_arrays(path), seed=seed)
    if suffix in (".txt", ".tsv"):
        return split(load_text_lines(path, tokenizer=tokenizer), seed=seed)
    if path.is_dir():
        if find_mnist_file(path, "train images") is not None:
            return load_mnist(path, seed=seed)
        if any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir()):
            return split(load_image_folder(path), seed=seed)
        raise _unknown(spec, "the directory holds neither MNIST IDX files nor class subfolders")
    if not path.exists():
        raise _unknown(spec, "not a known dataset name and no such file or directory")
    raise _unknown(spec, f"files ending in {suffix or '(no suffix)'!r} are not supported")
