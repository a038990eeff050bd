"""The deployable artifact: a directory with ``model.onnx`` and ``manifest.json`` (what was done, what was measured,
on which machine, and how to run it). ``load_artifact`` runs it with the engine and threads the manifest names for
each batch-size range; nothing is unpickled."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netslim import atomic
from netslim.errors import ConfigError, ModelLoadError
from netslim.export.onnx import ExportConfig, ExportRecord, export_onnx

FORMAT = "netslim-artifact"
FORMAT_VERSION = 1


@dataclasses.dataclass
class Artifact:
    """A loaded artifact: call it on a numpy batch (float32, shape ``(batch, *input_shape)``)."""

    directory: Path
    manifest: dict[str, Any]
    runtime: Any

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.manifest["input_shape"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
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
        payload = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model_file": "model.onnx",
            "input_shape": list(input_shape),
            "runtime": runtime or {"engine": "onnxruntime", "threads": threads, "mode": "latency"},
            **(manifest or {}),
        }
        atomic.write_json(tmp / "manifest.json", payload)
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
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{manifest_path}: not valid JSON ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise ModelLoadError(f"{manifest_path}: format is {manifest.get('format')!r}, expected {FORMAT!r}")
    model_file = directory / manifest.get("model_file", "model.onnx")
    if not model_file.is_file():
        raise ModelLoadError(f"{model_file}: missing; the manifest names it as the model file")
    spec = dict(manifest.get("runtime") or {})
    if "name" in spec:  # version-1 manifests before engines: {"name": "onnxruntime", "threads": n}
        spec = {"engine": spec.pop("name"), **spec}
    policy = BatchPolicy.from_dict(spec, where=f"{manifest_path}: runtime")
    for name in policy.files:
        if not (directory / name).is_file():
            raise ModelLoadError(f"{directory / name}: missing; the manifest's runtime policy names it")
    if threads is not None:  # the caller's thread count wins over the measured choice
        policy = BatchPolicy(tuple((b, dataclasses.replace(s, threads=threads)) for b, s in policy.rules))
    return Artifact(directory, manifest, policy.open(model_file))
