"""Property-based fuzzing of every loader: any byte string gives either a valid object or a NetslimError, nothing
else (no KeyError, no unpickling, no crash). Bounded examples so the suite stays fast."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netslim.compress import SparsityConfig, load_compressed, save_compressed, share_weights_, sparsify_
from netslim.config import Config
from netslim.data import load_data, read_idx
from netslim.errors import NetslimError
from netslim.export import load_artifact, save_artifact
from netslim.models import build_model, load_model, save_model
from netslim.transform import Recipe

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture(scope="module")
def originals():
    root = Path(tempfile.mkdtemp(prefix="netslim-fuzz-"))
    model = build_model("seed_mlp", (1, 8, 8))
    save_model(model, root / "model")
    save_artifact(model, torch.rand(2, 1, 8, 8), root / "artifact")
    compressed = build_model("seed_mlp", (1, 8, 8))
    sparsify_(compressed, SparsityConfig(sparsity=0.8))
    share_weights_(compressed)
    save_compressed(compressed, root / "model.nsc")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _copy(src: Path) -> Path:
    dst = Path(tempfile.mkdtemp(prefix="netslim-fuzz-case-")) / src.name
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy(src, dst)
    return dst


def _either(load, path) -> None:  # type: ignore[no-untyped-def]
    try:
        load(path)
    except NetslimError:
        pass
    finally:
        shutil.rmtree(Path(path).parent, ignore_errors=True)


def _flip(data: bytes, index: int, bit: int) -> bytes:
    i = index % len(data)
    return data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1 :]


@FUZZ
@given(st.binary(max_size=400), st.sampled_from(["model.json", "weights.pt"]))
def test_model_directories_of_random_bytes(originals, data: bytes, which: str) -> None:
    case = _copy(originals / "model")
    (case / which).write_bytes(data)
    _either(load_model, case)


@FUZZ
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=7), st.sampled_from(["model.json", "weights.pt"]))
def test_model_directories_with_a_flipped_bit(originals, index: int, bit: int, which: str) -> None:
    case = _copy(originals / "model")
    (case / which).write_bytes(_flip((case / which).read_bytes(), index, bit))
    _either(load_model, case)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(st.sampled_from(["model_file", "runtime", "input_shape", "files", "version", "format"]), JSONISH)
def test_artifact_manifests_with_a_field_replaced(originals, field: str, value) -> None:  # type: ignore[no-untyped-def]
    case = _copy(originals / "artifact")
    manifest = json.loads((case / "manifest.json").read_text())
    manifest[field] = value
    (case / "manifest.json").write_text(json.dumps(manifest))
    _either(load_artifact, case)


@FUZZ
@given(st.binary(max_size=300))
def test_artifact_manifests_of_random_bytes(originals, data: bytes) -> None:
    case = _copy(originals / "artifact")
    (case / "manifest.json").write_bytes(data)
    _either(load_artifact, case)


@FUZZ
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=7))
def test_every_bit_flip_of_an_nsc_file_is_refused(originals, index: int, bit: int) -> None:
    case = _copy(originals / "model.nsc")
    case.write_bytes(_flip(case.read_bytes(), index, bit))
    with pytest.raises(NetslimError):
        load_compressed(case)
    shutil.rmtree(case.parent, ignore_errors=True)


@FUZZ
@given(st.binary(max_size=300))
def test_nsc_files_of_random_bytes(originals, data: bytes) -> None:
    case = _copy(originals / "model.nsc")
    case.write_bytes(b"NSC2" + data if data[:1] == b"\x00" else data)
    _either(load_compressed, case)


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["data.npz", "images.idx", "lines.tsv"]))
def test_data_files_of_random_bytes(data: bytes, name: str) -> None:
    path = Path(tempfile.mkdtemp(prefix="netslim-fuzz-data-")) / name
    path.write_bytes(data)
    _either(read_idx if name.endswith(".idx") else lambda p: load_data(str(p)), path)


@FUZZ
@given(st.builds(lambda a, y: (a, y), st.integers(1, 6), st.integers(-3, 12)))
def test_npz_arrays_with_bad_labels_or_values(case) -> None:  # type: ignore[no-untyped-def]
    n, label = case
    path = Path(tempfile.mkdtemp(prefix="netslim-fuzz-npz-")) / "data.npz"
    x = np.full((n * 10, 4), np.nan if label > 10 else 0.5, np.float32)
    np.savez(path, x=x, y=np.full(n * 10, label))
    _either(lambda p: load_data(str(p)), path)


@FUZZ
@given(JSONISH)
def test_configs_and_recipes_from_any_data(value) -> None:  # type: ignore[no-untyped-def]
    for build in (
        lambda v: Config.from_dict({"type": "PruneConfig", "data": v}),
        lambda v: Config.from_dict(v),
        lambda v: Recipe.from_mapping(v),
        lambda v: Recipe.from_mapping({"steps": v}),
    ):
        with contextlib.suppress(NetslimError):
            build(value)
