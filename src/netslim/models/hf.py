"""Transformer encoders behind netslim's one-tensor interface: token ids in, logits out.

netslim's training, calibration, export and runtimes pass one tensor per batch (``model(x)``, an ONNX graph with
one input). A Hugging Face sequence classifier takes ``input_ids`` and ``attention_mask`` and returns a
``ModelOutput``. :class:`TokenIdsClassifier` wraps it so that the attention mask is computed inside the model from
the token ids: all ones (every position attends to every position) when ``pad_token_id`` is None, else
``input_ids != pad_token_id``. The exported graph then has one int64 input ``(batch, tokens)`` and one output, the
logits ``(batch, classes)``, and padded batches need no second input.

Example:
    >>> import torch, transformers
    >>> config = transformers.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1,
    ...                                  num_attention_heads=2, intermediate_size=64, num_labels=3)
    >>> model = TokenIdsClassifier(transformers.BertForSequenceClassification(config), pad_token_id=0)
    >>> model(torch.randint(1, 64, (2, 16))).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from netslim.errors import ConfigError


class TokenIdsClassifier(nn.Module):
    """``model(input_ids=..., attention_mask=...)`` as a one-tensor module returning the logits tensor.

    ``pad_token_id=None``: no mask is passed (every token attends to every token: the right choice for unpadded,
    fixed-length batches, and the smallest graph). Otherwise the mask ``input_ids != pad_token_id`` is built in the
    forward pass, so it is part of the exported graph. The wrapped model is ``self.model``: layer names gain a
    ``model.`` prefix (``model.bert.encoder.layer.0.attention.self.query``).
    """

    def __init__(self, model: nn.Module, *, pad_token_id: int | None = None) -> None:
        super().__init__()
        if pad_token_id is not None and (isinstance(pad_token_id, bool) or pad_token_id < 0):
            raise ConfigError(f"TokenIdsClassifier.pad_token_id must be a token id >= 0 or None, got {pad_token_id!r}")
        self.model = model
        self.pad_token_id = pad_token_id

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if input_ids.dtype.is_floating_point:
            raise ConfigError(
                f"TokenIdsClassifier expects integer token ids of shape (batch, tokens), got {input_ids.dtype}; "
                "pass a LongTensor (ArrayDataset keeps integer x as int64)"
            )
        mask = None if self.pad_token_id is None else (input_ids != self.pad_token_id).to(torch.int64)
        return _logits(self.model(input_ids=input_ids, attention_mask=mask))

    def wrapper_spec(self) -> dict[str, Any]:
        """How to wrap the rebuilt Hugging Face model again at load (kept in the architecture record)."""
        return {"type": "TokenIdsClassifier", "pad_token_id": self.pad_token_id}


class TokenIdsEncoder(nn.Module):
    """A Hugging Face encoder (``AutoModel``: BERT, MiniLM, ...) as a one-tensor embedding model: token ids in,
    the mean of the last hidden states over the non-padding tokens out (``(batch, hidden)``, the sentence-embedding
    convention), L2-normalised when ``normalize``. Compare its outputs by cosine, not top-1.

    >>> import torch, transformers
    >>> config = transformers.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1,
    ...                                  num_attention_heads=2, intermediate_size=64)
    >>> TokenIdsEncoder(transformers.BertModel(config), pad_token_id=0)(torch.randint(1, 64, (2, 16))).shape
    torch.Size([2, 32])
    """

    def __init__(self, model: nn.Module, *, pad_token_id: int | None = None, normalize: bool = False) -> None:
        super().__init__()
        if pad_token_id is not None and (isinstance(pad_token_id, bool) or pad_token_id < 0):
            raise ConfigError(f"TokenIdsEncoder.pad_token_id must be a token id >= 0 or None, got {pad_token_id!r}")
        self.model = model
        self.pad_token_id = pad_token_id
        self.normalize = normalize

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if input_ids.dtype.is_floating_point:
            raise ConfigError(f"TokenIdsEncoder expects integer token ids (batch, tokens), got {input_ids.dtype}")
        mask = None if self.pad_token_id is None else (input_ids != self.pad_token_id).to(torch.int64)
        output = self.model(input_ids=input_ids, attention_mask=mask)
        hidden = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]
        if mask is None:
            pooled = hidden.mean(dim=1)
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled

    def wrapper_spec(self) -> dict[str, Any]:
        return {"type": "TokenIdsEncoder", "pad_token_id": self.pad_token_id, "normalize": self.normalize}


class PixelClassifier(nn.Module):
    """A Hugging Face image classifier (ViT, ConvNeXt, ResNet ...) as a one-tensor model: ``pixel_values``
    ``(batch, 3, H, W)`` in, logits out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return _logits(self.model(pixel_values=pixel_values))

    def wrapper_spec(self) -> dict[str, Any]:
        return {"type": "PixelClassifier"}


WRAPPERS: dict[str, type[nn.Module]] = {
    "TokenIdsClassifier": TokenIdsClassifier,
    "TokenIdsEncoder": TokenIdsEncoder,
    "PixelClassifier": PixelClassifier,
}


def wrap(model: nn.Module, spec: dict[str, Any]) -> nn.Module:
    """Wrap a rebuilt Hugging Face model as ``spec`` (a ``wrapper_spec()``) says."""
    kind = WRAPPERS.get(str(spec.get("type")))
    if kind is None:
        raise ConfigError(f"unknown model wrapper {spec.get('type')!r}; known: {', '.join(WRAPPERS)}")
    return kind(model, **{k: v for k, v in spec.items() if k != "type"})


def _logits(output: Any) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise ConfigError(
        f"TokenIdsClassifier: the wrapped model returned {type(output).__name__}, which has no logits tensor; "
        "wrap a sequence classifier (e.g. transformers.BertForSequenceClassification)"
    )


__all__ = ["WRAPPERS", "PixelClassifier", "TokenIdsClassifier", "TokenIdsEncoder", "wrap"]
