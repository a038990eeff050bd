"""Labelled arrays from a ``.npz`` archive, read without ever unpickling."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from netslim.data.dataset import ArrayDataset
from netslim.errors import DataError

X_SHAPES = "(N, H, W) or (N, C, H, W) images, or (N, F) features"


def _get(archive: np.lib.npyio.NpzFile, path: Path, key: str) -> np.ndarray:
    if key not in archive.files:
        raise DataError(
            f"{path}: no array named {key!r}; the archive holds {sorted(archive.files)}. "
            "Pass x_key=/y_key= to name the arrays to use."
        )
    try:
        value = archive[key]
    except ValueError as exc:
        raise DataError(
            f"{path}: array {key!r} could not be read without unpickling ({exc}); netslim never unpickles. "
            "Save plain numeric arrays, e.g. np.savez(path, x=x.astype(np.float32), y=y.astype(np.int64))."
        ) from exc
    if not isinstance(value, np.ndarray):
        raise DataError(f"{path}: member {key!r} is not a .npy array; write the archive with np.savez.")
    return value


def _images_or_features(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    if x.ndim not in (2, 3, 4) or len(x) == 0:
        raise DataError(f"{path}: array {key!r} should be {X_SHAPES} with N > 0, got shape {x.shape}.")
    if x.ndim == 3:
        x = x[:, None, :, :]
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    if x.dtype.kind == "f":
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise DataError(f"{path}: array {key!r} contains NaN or infinite values; clean them before loading.")
        return x
    if x.dtype.kind in "iu" and x.ndim == 2:
        return x.astype(np.int64)
    raise DataError(
        f"{path}: array {key!r} has dtype {x.dtype} and shape {x.shape}; expected uint8 (scaled by 1/255) or float "
        "images/features, or integer (N, L) token ids. Convert with x.astype(np.uint8) or x.astype(np.float32)."
    )


def _labels(y: np.ndarray, n: int, path: Path, key: str) -> np.ndarray:
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{path}: array {key!r} should be labels of shape ({n},) to match x, got shape {y.shape}.")
    whole_floats = y.dtype.kind == "f" and bool(np.isfinite(y).all()) and bool((y == np.round(y)).all())
    if y.dtype.kind not in "iu" and not whole_floats:
        raise DataError(
            f"{path}: array {key!r} should hold whole-number class labels, got dtype {y.dtype} "
            f"(first values {y[:5].tolist()}). Map labels to 0..K-1 integers first."
        )
    labels = y.astype(np.int64)
    if len(labels) and labels.min() < 0:
        raise DataError(f"{path}: array {key!r} has negative label {labels.min()}; labels must be 0..K-1.")
    return labels


def load_arrays(path: str | Path, *, x_key: str = "x", y_key: str = "y") -> ArrayDataset:
    """Load ``x`` and ``y`` from an ``.npz`` file; an optional ``classes`` string array names the classes.

    ``x`` may be (N, H, W) (a channel axis is added), (N, C, H, W) or (N, F); uint8 is scaled to [0, 1].

    Example:
        >>> import tempfile
        >>> path = tempfile.mkdtemp() + "/toy.npz"
        >>> np.savez(path, x=np.zeros((10, 28, 28), np.uint8), y=np.arange(10) % 2)
        >>> load_arrays(path).input_shape
        (1, 28, 28)
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: expected an .npz file with arrays {x_key!r} and {y_key!r}, found nothing there.")
    if not zipfile.is_zipfile(path):
        raise DataError(
            f"{path}: not a zip archive, so not an .npz file. Expected arrays {x_key!r} ({X_SHAPES}) and {y_key!r} "
            "(N,); write one with np.savez(path, x=x, y=y)."
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            x_raw, y_raw = _get(archive, path, x_key), _get(archive, path, y_key)
            classes_raw = archive["classes"] if "classes" in archive.files and "classes" not in (x_key, y_key) else None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: the .npz archive is corrupt ({exc}); write it again with np.savez.") from exc
    x = _images_or_features(x_raw, path, x_key)
    y = _labels(y_raw, len(x), path, y_key)
    classes = None
    if classes_raw is not None:
        if classes_raw.ndim != 1 or classes_raw.dtype.kind not in "US":
            shown = f"{classes_raw.dtype} of shape {classes_raw.shape}"
            raise DataError(f"{path}: array 'classes' should be 1-D strings (one name per class), got {shown}.")
        classes = tuple(str(c) for c in classes_raw.tolist())
        if y.max() >= len(classes):
            raise DataError(f"{path}: label {y.max()} of {y_key!r} has no name among {len(classes)} 'classes'.")
    return ArrayDataset(x, y, name=str(path), classes=classes)
