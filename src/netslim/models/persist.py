"""Save and load models without pickle: ``model.json`` (architecture description) + ``weights.pt`` (a state_dict
read back with ``torch.load(weights_only=True)``, which refuses arbitrary objects)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netslim import atomic
from netslim.errors import ModelLoadError
from netslim.models.zoo import build_model

FORMAT = "netslim-model"
FORMAT_VERSION = 1


def architecture(model: nn.Module) -> dict[str, Any]:
    """The architecture description netslim can rebuild ``model`` from."""
    arch = getattr(model, "netslim_arch", None)
    if not isinstance(arch, dict):
        raise ModelLoadError(
            f"{type(model).__name__} has no netslim architecture description; build it with "
            "netslim.models.build_model(...) so that it can be saved without pickle"
        )
    return arch


def save_model(model: nn.Module, directory: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``directory`` atomically; return the directory."""
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "architecture": architecture(model), "extra": extra or {}}
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    with atomic.directory(directory) as tmp:
        (tmp / "weights.pt").write_bytes(buffer.getvalue())
        (tmp / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return Path(directory)


def load_model(directory: str | Path) -> nn.Module:
    """Rebuild a model saved by :func:`save_model`, in eval mode."""
    directory = Path(directory)
    meta_path, weights_path = directory / "model.json", directory / "weights.pt"
    if not meta_path.is_file() or not weights_path.is_file():
        raise ModelLoadError(f"{directory}: expected a netslim model directory with model.json and weights.pt")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{meta_path}: not valid JSON ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise ModelLoadError(f"{meta_path}: format is {meta.get('format')!r}, expected {FORMAT!r}")
    arch = meta["architecture"]
    model = build_model(arch["zoo"], arch["input_shape"], arch["num_classes"], **arch.get("kwargs", {}))
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise ModelLoadError(f"{weights_path}: cannot load weights into {arch['zoo']} ({exc})") from exc
    return model.eval()


def load_any(spec: str, input_shape: tuple[int, ...] | None = None, num_classes: int = 10) -> nn.Module:
    """A zoo name (built with random weights for ``input_shape``) or a saved model directory."""
    path = Path(spec)
    if path.is_dir():
        return load_model(path)
    return build_model(spec, input_shape or (1, 28, 28), num_classes)
