"""The front door: every form a user holds a model in, as one torch module netslim works on.

:func:`load_any` takes what the command line gets (a zoo name, a netslim model directory, a Hugging Face model
directory, a ``.onnx`` or ``.keras`` file); :func:`as_model` takes what Python code holds (an ``nn.Module``, a Keras 3
model, an ``onnx.ModelProto``, a Hugging Face model). Hugging Face models become one-tensor modules (token ids or
pixels in, logits or a pooled embedding out); Keras and ONNX models become a :class:`~netslim.models.graphnet.GraphNet`.
Nothing is unpickled: netslim directories load with ``weights_only=True``, Hugging Face directories through
transformers with local files only (safetensors where present), Keras files with ``safe_mode``.

Example:
    >>> model = load_any("seed_mlp", (1, 8, 8))
    >>> type(model).__name__
    'Sequential'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from netslim.errors import ModelLoadError
from netslim.models.persist import load_model
from netslim.models.zoo import build_model

__all__ = ["as_model", "hf_tokenizer", "load_any", "load_hf", "tokenizer_files"]

# What a Hugging Face tokenizer is read from; a model netslim saved from a Hugging Face directory carries them along.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
    "merges.txt",
    "vocab.json",
    "sentencepiece.bpe.model",
    "spiece.model",
)


def load_any(spec: str | Path, input_shape: tuple[int, ...] | None = None, num_classes: int = 10) -> nn.Module:
    """A zoo name (built with random weights for ``input_shape``), a netslim model directory, a Hugging Face model
    directory, or a ``.onnx`` / ``.keras`` file."""
    path = Path(spec)
    text = str(spec)
    if path.is_dir():
        if (path / "model.json").is_file():
            return load_model(path)
        if (path / "config.json").is_file():
            return load_hf(path)
        raise ModelLoadError(
            f"{path}: a directory with neither model.json (a netslim model) nor config.json (a Hugging Face model)"
        )
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".onnx":
            from netslim.models.onnx_in import from_onnx

            return from_onnx(path)
        if suffix == ".keras":
            from netslim.models.keras_in import from_keras

            return from_keras(path)
        if suffix in (".pt", ".pth", ".bin", ".pkl", ".h5"):
            raise ModelLoadError(
                f"{path}: netslim does not unpickle model files; export the model to ONNX (torch.onnx.export) or "
                "save it as .keras, or build it in Python and pass the module to netslim"
            )
        raise ModelLoadError(
            f"{path}: not a model netslim reads; give a zoo name (netslim zoo), a netslim or Hugging Face model "
            "directory, or a .onnx / .keras file"
        )
    if path.suffix or "/" in text or text.startswith("."):
        raise ModelLoadError(f"{path}: no such file or directory; give a zoo name, a model directory or a model file")
    return build_model(text, input_shape or (1, 28, 28), num_classes)


def as_model(obj: Any, input_shape: tuple[int, ...] | None = None) -> nn.Module:
    """Any model object a user holds, as the torch module netslim works on: an ``nn.Module`` (a Hugging Face model
    is wrapped as a one-tensor model), a Keras 3 model, an ``onnx.ModelProto``, or anything :func:`load_any` takes."""
    if isinstance(obj, str | Path):
        return load_any(obj, input_shape)
    kind = type(obj)
    if any(c.__module__.startswith("keras") for c in kind.__mro__):  # before nn.Module: on torch, keras models are both
        from netslim.models.keras_in import from_keras

        return from_keras(obj)
    if isinstance(obj, nn.Module):
        return _wrap_hf(obj) if type(obj).__module__.startswith("transformers.") else obj
    if kind.__name__ == "ModelProto" and kind.__module__.startswith("onnx"):
        from netslim.models.onnx_in import from_onnx

        return from_onnx(obj)
    raise ModelLoadError(
        f"{kind.__name__}: not a model netslim takes; pass an nn.Module, a Keras 3 model, an onnx.ModelProto, a "
        "Hugging Face model, a model directory or a .onnx / .keras file"
    )


def load_hf(directory: str | Path) -> nn.Module:
    """A Hugging Face model directory (``config.json`` + weights), read from local files only, as a one-tensor
    model: a sequence classifier -> ``TokenIdsClassifier``, an image classifier -> ``PixelClassifier``, any other
    text encoder -> ``TokenIdsEncoder`` (mean-pooled embedding)."""
    directory = Path(directory)
    try:
        import transformers
    except ImportError as exc:
        raise ModelLoadError(
            f"{directory}: a Hugging Face model needs transformers: pip install 'netslim[hf]'"
        ) from exc
    try:
        config = transformers.AutoConfig.from_pretrained(directory, local_files_only=True)
        heads = " ".join(getattr(config, "architectures", None) or [])
        if "ForSequenceClassification" in heads:
            model = transformers.AutoModelForSequenceClassification.from_pretrained(directory, local_files_only=True)
        elif "ForImageClassification" in heads:
            model = transformers.AutoModelForImageClassification.from_pretrained(directory, local_files_only=True)
        else:
            model = transformers.AutoModel.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"{directory}: transformers cannot load this model directory ({first})") from None
    return _wrap_hf(model).eval()


def hf_tokenizer(directory: str | Path, max_length: int = 64) -> Callable[[list[str]], np.ndarray] | None:
    """The tokenizer saved in a Hugging Face model directory as ``texts -> int64 ids (N, L)`` (padded with the
    model's pad id, truncated; ``L`` is ``max_length`` or the model's longest position, whichever is shorter), or
    None where the directory holds none."""
    directory = Path(directory)
    if not tokenizer_files(directory):
        return None
    import transformers

    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
        config = json.loads((directory / "config.json").read_text()) if (directory / "config.json").is_file() else {}
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{directory}: cannot read its tokenizer ({exc})") from None
    longest = config.get("max_position_embeddings") if isinstance(config, dict) else None
    max_length = min(max_length, int(longest)) if isinstance(longest, int) and longest > 0 else max_length

    def encode(texts: list[str]) -> np.ndarray:
        batch = tokenizer(texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="np")
        return np.asarray(batch["input_ids"], dtype=np.int64)

    return encode


def tokenizer_files(directory: str | Path) -> dict[str, bytes]:
    """The tokenizer files (and ``config.json``, which names the longest sequence) of a Hugging Face model
    directory, or of a netslim model directory saved from one; empty where there is no tokenizer."""
    directory = Path(directory)
    if not directory.is_dir() or not (directory / "tokenizer_config.json").is_file():
        return {}
    names = [n for n in (*TOKENIZER_FILES, "config.json") if (directory / n).is_file()]
    return {name: (directory / name).read_bytes() for name in names}


def _wrap_hf(model: nn.Module) -> nn.Module:
    from netslim.models.hf import PixelClassifier, TokenIdsClassifier, TokenIdsEncoder

    config: Any = getattr(model, "config", None)
    pad = getattr(config, "pad_token_id", None)
    name = type(model).__name__
    wrapper: nn.Module
    if name.endswith("ForSequenceClassification"):
        wrapper = TokenIdsClassifier(model, pad_token_id=pad)
    elif name.endswith("ForImageClassification"):
        wrapper = PixelClassifier(model)
    elif hasattr(config, "vocab_size"):
        wrapper = TokenIdsEncoder(model, pad_token_id=pad)
    else:
        raise ModelLoadError(
            f"{name}: netslim takes Hugging Face sequence classifiers, image classifiers and text encoders; wrap other "
            "models in an nn.Module whose forward takes one tensor"
        )
    return wrapper.train(model.training)  # the wrapper keeps the mode the model was in
