"""The deployable artifact: a directory with ``model.onnx`` and ``manifest.json`` (what was done, what was measured,
on which machine, and how to run it). ``load_artifact`` runs it with the engine and threads the manifest names for
each batch-size range; nothing is unpickled. ``report.html`` beside them is a view of the manifest for people
(:mod:`netslim.report`): informational, so it is not in the manifest's ``files`` and not checked on load
(``netslim report`` may rewrite it)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netslim import atomic
from netslim.errors import ConfigError, ModelLoadError
from netslim.export.onnx import ExportConfig, ExportRecord, export_onnx
from netslim.report import REPORT, report_data_from_manifest, write_report

FORMAT = "netslim-artifact"
FORMAT_VERSION = 2  # 2: the manifest lists the SHA-256 of every file, checked on load


@dataclasses.dataclass
class Artifact:
    """A loaded artifact: call it on a numpy batch of shape ``(batch, *input_shape)`` (float32, or int64 token
    ids where the manifest's ``input_dtype`` says so)."""

    directory: Path
    manifest: dict[str, Any]
    runtime: Any

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.manifest["input_shape"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.int64 if self.manifest.get("input_dtype") == "int64" else np.float32)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ModelLoadError(
                f"{self.directory}: expects input (batch, {', '.join(map(str, self.input_shape))}), "
                f"got {tuple(x.shape)}"
            )
        return self.runtime.run(x)


def write_artifact(
    directory: str | Path,
    onnx_bytes: bytes,
    input_shape: tuple[int, ...] | list[int],
    *,
    manifest: dict[str, Any] | None = None,
    threads: int | None = None,
    runtime: dict[str, Any] | None = None,
    files: dict[str, bytes] | None = None,
    input_dtype: str = "float32",
) -> Path:
    """Write an already-validated ONNX graph and its manifest as an artifact directory, atomically. ``runtime`` is a
    :class:`~netslim.runtime.spec.BatchPolicy` / ``RuntimeSpec`` dict (default: ONNX Runtime with ``threads``);
    ``files``: further validated graphs by file name, which the policy's rules may name (``RuntimeSpec.file``)."""
    directory = Path(directory)
    with atomic.directory(directory) as tmp:
        (tmp / "model.onnx").write_bytes(onnx_bytes)
        for name, data in (files or {}).items():
            if name == "model.onnx" or Path(name).name != name:
                raise ConfigError(
                    f"write_artifact: extra file name {name!r} must be a bare file name other than model.onnx"
                )
            (tmp / name).write_bytes(data)
        hashes = {"model.onnx": hashlib.sha256(onnx_bytes).hexdigest()}
        hashes.update({name: hashlib.sha256(data).hexdigest() for name, data in (files or {}).items()})
        payload = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "run_id": atomic.RUN_ID,
            "files": hashes,
            "model_file": "model.onnx",
            "input_shape": list(input_shape),
            "input_dtype": input_dtype,
            "runtime": runtime or {"engine": "onnxruntime", "threads": threads, "mode": "latency"},
            **(manifest or {}),
        }
        atomic.write_json(tmp / "manifest.json", payload)
        write_report(tmp / REPORT, report_data_from_manifest(payload))  # informational: not hashed (see above)
    return directory


def save_artifact(
    model: torch.nn.Module,
    example: torch.Tensor,
    directory: str | Path,
    *,
    config: ExportConfig | None = None,
    manifest: dict[str, Any] | None = None,
    threads: int | None = None,
) -> ExportRecord:
    """Export ``model`` with a parity check and write the artifact directory atomically."""
    directory = Path(directory)
    with tempfile.TemporaryDirectory() as scratch:
        record = export_onnx(model, example, Path(scratch) / "model.onnx", config)
        onnx_bytes = Path(record.path).read_bytes()
    export = {**record.to_dict(), "path": "model.onnx"}
    write_artifact(
        directory,
        onnx_bytes,
        tuple(example.shape[1:]),
        manifest={"export": export, **(manifest or {})},
        threads=threads,
        input_dtype="float32" if example.dtype.is_floating_point else "int64",
    )
    return dataclasses.replace(record, path=str(directory / "model.onnx"))


def load_artifact(directory: str | Path, *, threads: int | None = None) -> Artifact:
    """Open an artifact directory written by :func:`save_artifact` (or by the selection pipeline).

    >>> import tempfile, numpy as np, torch
    >>> from netslim.models import build_model
    >>> out = tempfile.mkdtemp() + "/artifact"
    >>> _ = save_artifact(build_model("seed_mlp", (1, 8, 8)), torch.rand(1, 1, 8, 8), out)
    >>> load_artifact(out)(np.zeros((3, 1, 8, 8), np.float32)).shape
    (3, 10)
    """
    from netslim.runtime.spec import BatchPolicy

    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise ModelLoadError(f"{directory}: not a netslim artifact (no manifest.json); create one with netslim export")
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelLoadError(f"{manifest_path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ModelLoadError(f"{manifest_path}: format is {found!r}, expected {FORMAT!r}")
    version = manifest.get("version")
    if version not in (1, FORMAT_VERSION):
        raise ModelLoadError(
            f"{manifest_path}: version {version!r}; this netslim reads versions 1 and {FORMAT_VERSION}"
        )
    name = manifest.get("model_file", "model.onnx")
    model_file = directory / _contained(name, manifest_path, "model_file")
    if not model_file.is_file():
        raise ModelLoadError(f"{model_file}: missing; the manifest names it as the model file")
    _check_input_shape(manifest.get("input_shape"), manifest_path)
    hashes = manifest.get("files")
    if version == FORMAT_VERSION:
        if not isinstance(hashes, dict) or name not in hashes:
            raise ModelLoadError(f"{manifest_path}: lists no SHA-256 for {name}; the artifact is incomplete")
        for file, digest in hashes.items():
            path = directory / _contained(file, manifest_path, "files")
            if not isinstance(digest, str):
                raise ModelLoadError(f"{manifest_path}: files[{file!r}] must be a SHA-256 hex string, got {digest!r}")
            if not path.is_file():
                raise ModelLoadError(f"{path}: missing; the manifest lists it")
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                raise ModelLoadError(
                    f"{path}: its SHA-256 differs from the manifest's: the file was changed or swapped after netslim "
                    "wrote it; re-export the artifact"
                )
    try:
        spec = dict(manifest.get("runtime") or {})
        if "name" in spec:  # version-1 manifests before engines: {"name": "onnxruntime", "threads": n}
            spec = {"engine": spec.pop("name"), **spec}
        policy = BatchPolicy.from_dict(spec, where=f"{manifest_path}: runtime")
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # a hand-edited or damaged policy
        if isinstance(exc, ConfigError):
            raise
        raise ModelLoadError(
            f"{manifest_path}: the runtime policy is malformed ({type(exc).__name__}: {exc})"
        ) from None
    for name in policy.files:
        if not (directory / name).is_file():
            raise ModelLoadError(f"{directory / name}: missing; the manifest's runtime policy names it")
    for file in policy.files:
        if version == FORMAT_VERSION and file not in (hashes or {}):
            raise ModelLoadError(f"{manifest_path}: the runtime policy names {file}, which the manifest does not list")
    cores = os.cpu_count() or 1
    if threads is not None:  # the caller's thread count wins over the measured choice
        policy = BatchPolicy(tuple((b, dataclasses.replace(s, threads=threads)) for b, s in policy.rules))
    # a thread count recorded on a bigger machine (or edited by hand) is capped at this machine's cores
    policy = BatchPolicy(
        tuple((b, dataclasses.replace(s, threads=min(s.threads, cores)) if s.threads else s) for b, s in policy.rules)
    )
    return Artifact(directory, manifest, policy.open(model_file))


def _contained(name: Any, manifest: Path, field: str) -> str:
    """A file name the manifest gives must be a bare name inside the artifact directory (no path, no '..')."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise ModelLoadError(
            f"{manifest}: {field} names {name!r}, which is not a file inside the artifact directory; refusing to "
            "load a file from elsewhere"
        )
    return name


def _check_input_shape(shape: Any, manifest: Path) -> None:
    if (
        not isinstance(shape, list)
        or not shape
        or len(shape) > 8
        or not all(isinstance(s, int) and not isinstance(s, bool) and 0 < s <= 1 << 20 for s in shape)
    ):
        raise ModelLoadError(f"{manifest}: input_shape must be a list of positive sizes, got {shape!r}")
