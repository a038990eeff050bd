"""load_data: every accepted spec form dispatches to its loader; anything else names the accepted forms."""

from __future__ import annotations

import numpy as np
import pytest

from netslim.data import load_data, write_idx
from netslim.errors import DataError


def _mnist_dir(directory):
    directory.mkdir()
    for stem, n in (("train", 5100), ("t10k", 20)):  # load_data keeps load_mnist's default val_size=5000
        write_idx(directory / f"{stem}-images-idx3-ubyte", np.zeros((n, 28, 28), np.uint8))
        write_idx(directory / f"{stem}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    return directory


def test_digits():
    data = load_data("digits", seed=1)
    assert data.train.name == "digits/train" and data.input_shape == (1, 8, 8)


def test_mnist_prefix_and_plain_directory(tmp_path, monkeypatch):
    import netslim.data.load as load_module

    calls = []
    monkeypatch.setattr(load_module, "load_mnist", lambda d, seed: calls.append((str(d), seed)) or "splits")
    directory = _mnist_dir(tmp_path / "m")
    assert load_data(f"mnist:{directory}", seed=3) == "splits"
    assert load_data(str(directory)) == "splits"
    assert calls == [(str(directory), 3), (str(directory), 0)]


def test_mnist_name_uses_default_dir(tmp_path, monkeypatch):
    import netslim.data.load as load_module

    directory = _mnist_dir(tmp_path / "m")
    monkeypatch.setattr(load_module, "load_mnist", lambda d, seed: d)
    monkeypatch.setenv("NETSLIM_MNIST_DIR", str(directory))
    assert load_data("mnist") == directory
    monkeypatch.setenv("NETSLIM_MNIST_DIR", str(tmp_path / "absent"))
    with pytest.raises(DataError, match="mnist:DIR"):
        load_data("mnist")


def test_real_loader_on_idx_directory(tmp_path):
    data = load_data(str(_mnist_dir(tmp_path / "m")))
    assert data.input_shape == (1, 28, 28) and (len(data.train), len(data.val), len(data.test)) == (100, 5000, 20)


def test_npz_text_and_image_folder(tmp_path):
    npz = tmp_path / "d.npz"
    np.savez(npz, x=np.zeros((40, 5), np.float32), y=np.arange(40) % 2)
    data = load_data(str(npz))
    assert len(data.train) + len(data.val) + len(data.test) == 40 and data.val.name == f"{npz}/val"

    txt = tmp_path / "t.tsv"
    txt.write_text("".join(f"{'pos' if i % 2 else 'neg'}\tword{i % 3} film\n" for i in range(20)), encoding="utf-8")
    text = load_data(str(txt))
    assert text.train.classes == ("neg", "pos") and text.train.vocab[:2] == ("<pad>", "<unk>")

    image = pytest.importorskip("PIL.Image", reason="Pillow is needed to write test images: pip install pillow")
    root = tmp_path / "imgs"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for k in range(10):
            image.new("L", (3, 3), k).save(root / name / f"{k}.png")
    folder = load_data(str(root))
    assert folder.train.classes == ("a", "b") and folder.input_shape == (1, 3, 3)


@pytest.mark.parametrize("spec", ["cifar10", "model.onnx", "data.csv", "mnist:"])
def test_unknown_specs_list_accepted_forms(tmp_path, spec):
    target = tmp_path / spec
    if spec.endswith(".csv"):
        target.write_text("1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="Accepted forms") as info:
        load_data(str(target) if "." in spec else spec)
    assert spec.split(".")[0] in str(info.value)
    assert "digits" in str(info.value) and "mnist:DIR" in str(info.value) and ".npz" in str(info.value)


def test_directory_without_known_content(tmp_path):
    (tmp_path / "readme.md").write_text("hi", encoding="utf-8")
    with pytest.raises(DataError, match="neither MNIST IDX files nor class subfolders"):
        load_data(str(tmp_path))
