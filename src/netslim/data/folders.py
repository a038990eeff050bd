"""A directory with one subfolder of images per class, as an ``ArrayDataset`` (Pillow, imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from netslim.data.dataset import ArrayDataset
from netslim.errors import ConfigError, DataError

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:
        raise DataError("Loading an image folder needs Pillow, which is not installed: pip install pillow") from exc
    return Image


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _is_image(path: Path) -> bool:
    return _visible(path) and path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def class_folders(directory: Path) -> dict[str, list[Path]]:
    """Map each class subfolder name (sorted) to its sorted image files; errors name what is missing."""
    if not directory.is_dir():
        raise DataError(f"{directory}: expected a directory with one subfolder of images per class, found nothing.")
    entries = sorted(p for p in directory.iterdir() if _visible(p))
    if not entries:
        raise DataError(f"{directory}: the directory is empty; expected one subfolder of images per class.")
    folders = [p for p in entries if p.is_dir()]
    if not folders:
        raise DataError(
            f"{directory}: no class subfolders, only files ({entries[0].name}, ...). "
            "Put the images of each class in their own subfolder, e.g. cats/1.png, dogs/2.png."
        )
    classes: dict[str, list[Path]] = {}
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if _is_image(p))
        if not files:
            raise DataError(
                f"{folder}: class folder holds no images; expected files ending in {', '.join(IMAGE_SUFFIXES)}. "
                "Add images or remove the folder."
            )
        classes[folder.name] = files
    return classes


def _check_size(size: tuple[int, int] | None) -> None:
    if size is None:
        return
    ok = isinstance(size, tuple | list) and len(size) == 2
    if not ok or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
        raise ConfigError(f"size must be None or (height, width) of positive integers, got {size!r}.")


def _header(image_module: Any, path: Path) -> tuple[str, tuple[int, int]]:
    try:
        with image_module.open(path) as image:
            return image.mode, image.size
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}: could not read the image ({exc}). Remove or replace the file.") from exc


def _pixels(image_module: Any, path: Path, mode: str, target: tuple[int, int]) -> np.ndarray:
    try:
        with image_module.open(path) as image:
            image.seek(0)
            converted = image.convert(mode)
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}: could not read the image ({exc}). Remove or replace the file.") from exc
    if converted.size != target:
        converted = converted.resize(target, image_module.Resampling.BILINEAR)
    return np.asarray(converted, dtype=np.uint8)


def load_image_folder(
    directory: str | Path, *, size: tuple[int, int] | None = None, grayscale: bool | None = None
) -> ArrayDataset:
    """Load ``directory/<class>/<image>`` files as float32 (N, C, H, W) in [0, 1]; classes are sorted folder names.

    ``size`` is ``(height, width)``: None requires every image to match the first one, otherwise all are resized.
    ``grayscale`` None gives one channel when every image is mode "L", else RGB; True/False force it.

    Example:
        >>> ds = load_image_folder("shapes/", size=(32, 32))  # doctest: +SKIP
        >>> ds.classes, ds.input_shape  # doctest: +SKIP
        (('circle', 'square'), (3, 32, 32))
    """
    directory = Path(directory)
    _check_size(size)
    classes = class_folders(directory)
    image_module = _pillow()
    files = [(label, path) for label, paths in enumerate(classes.values()) for path in paths]
    headers = [_header(image_module, path) for _, path in files]
    if grayscale is None:
        grayscale = all(mode == "L" for mode, _ in headers)
    target = (size[1], size[0]) if size is not None else headers[0][1]
    for (_, path), (_, found) in zip(files, headers, strict=True):
        if size is None and found != target:
            raise DataError(
                f"{path}: image is {found[1]}x{found[0]} (HxW) but {files[0][1]} is {target[1]}x{target[0]}; "
                "pass size=(height, width) to resize every image."
            )
    pixels = [_pixels(image_module, path, "L" if grayscale else "RGB", target) for _, path in files]
    x = np.stack(pixels).astype(np.float32) / np.float32(255.0)
    x = x[:, None, :, :] if grayscale else x.transpose(0, 3, 1, 2)
    y = np.array([label for label, _ in files], dtype=np.int64)
    return ArrayDataset(x, y, name=str(directory), classes=tuple(classes))
