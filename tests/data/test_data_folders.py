"""load_image_folder on small PNG folders generated with Pillow."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from netslim.data import load_image_folder
from netslim.errors import ConfigError, DataError

Image = pytest.importorskip("PIL.Image", reason="Pillow is needed to write test images: pip install pillow")


def _folder(root: Path, *, mode: str = "L", sizes: dict[str, list[tuple[int, int]]] | None = None) -> Path:
    """One folder per class (default cats/, dogs/) of constant images: 10*k, or 200 in dogs/; plus a stray .txt."""
    sizes = sizes or {"cats": [(6, 4)] * 3, "dogs": [(6, 4)] * 2}
    for name, shapes in sizes.items():
        (root / name).mkdir(parents=True)
        for k, size in enumerate(shapes):
            value = 200 if name == "dogs" else 10 * k
            Image.new(mode, size, value if mode == "L" else (value, 0, 255)).save(root / name / f"{k}.png")
    first = sorted(sizes)[0]
    (root / first / "notes.txt").write_text("not an image", encoding="utf-8")
    return root


def test_round_trip_two_classes_grayscale(tmp_path):
    ds = load_image_folder(_folder(tmp_path / "pets"))
    assert ds.classes == ("cats", "dogs") and ds.name == str(tmp_path / "pets")
    assert ds.input_shape == (1, 4, 6) and ds.x.dtype == np.float32
    np.testing.assert_array_equal(ds.y, [0, 0, 0, 1, 1])
    np.testing.assert_allclose(ds.x[:, 0, 0, 0], np.array([0, 10, 20, 200, 200]) / 255.0, rtol=1e-6)


def test_rgb_and_forced_grayscale(tmp_path):
    root = _folder(tmp_path / "rgb", mode="RGB")
    ds = load_image_folder(root)
    assert ds.input_shape == (3, 4, 6)
    np.testing.assert_allclose(ds.x[3, :, 0, 0], [200 / 255, 0.0, 1.0], rtol=1e-6)
    assert load_image_folder(root, grayscale=True).input_shape == (1, 4, 6)


def test_mixed_sizes_need_resize(tmp_path):
    root = _folder(tmp_path / "mixed", sizes={"a": [(6, 4), (5, 5)], "b": [(6, 4)]})
    with pytest.raises(DataError, match=re.escape(str(root / "a" / "1.png"))) as info:
        load_image_folder(root)
    assert "size=(height, width)" in str(info.value)
    assert load_image_folder(root, size=(8, 3)).input_shape == (1, 8, 3)
    with pytest.raises(ConfigError, match="size"):
        load_image_folder(root, size=(0, 3))


def test_empty_directory(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(DataError, match=re.escape(str(root))) as info:
        load_image_folder(root)
    assert "empty" in str(info.value)


def test_no_class_subfolders_and_empty_class(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    Image.new("L", (2, 2)).save(root / "a.png")
    with pytest.raises(DataError, match=re.escape(str(root))) as info:
        load_image_folder(root)
    assert "subfolder" in str(info.value)
    (root / "cls").mkdir()
    with pytest.raises(DataError, match=re.escape(str(root / "cls"))):
        load_image_folder(root)


def test_missing_pillow_says_how_to_install(tmp_path, monkeypatch):
    root = _folder(tmp_path / "pets")
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(DataError, match="pip install pillow"):
        load_image_folder(root)


def test_unreadable_image_is_named(tmp_path):
    root = _folder(tmp_path / "pets")
    broken = root / "dogs" / "9.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=re.escape(str(broken))):
        load_image_folder(root)
