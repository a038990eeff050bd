"""What a model takes as input, from the model itself: shape (without batch), dtype, layout, token-id range.

Every place that needs an input it was not given (profiling, graph capture, timing, export) asks
:func:`input_spec` instead of guessing a float ``torch.rand``: a model converted from Keras or ONNX says its inputs
in its graph spec, a token-id model (``TokenIdsClassifier``, an ONNX encoder) takes int64 ids below its vocabulary
size, a zoo model takes the float shape it was built for.

Example:
    >>> from netslim.models import build_model
    >>> spec = input_spec(build_model("seed_cnn", (1, 8, 8)))
    >>> spec.shape, spec.dtype, tuple(spec.random(2).shape)
    ((1, 8, 8), 'float32', (2, 1, 8, 8))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from netslim.errors import ConfigError

__all__ = ["InputSpec", "input_spec"]

# Token sequences are timed and profiled at this length unless the data or the user says otherwise.
DEFAULT_TOKENS = 128


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One model input: ``shape`` without the batch axis, ``dtype`` (``float32`` or ``int64``), ``high`` the
    exclusive upper bound of integer ids (vocabulary size), ``layout`` (``NCHW``, ``tokens``...) where known."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    high: int | None = None
    layout: str | None = None

    @property
    def is_integer(self) -> bool:
        return self.dtype.startswith("int")

    def random_numpy(self, batch: int, *, seed: int = 0) -> np.ndarray:
        """A random batch as numpy: uniform [0, 1) floats, or ids in [1, high) (0 is often the padding id)."""
        rng = np.random.default_rng(seed)
        if self.is_integer:
            high = max(2, self.high or 2)
            return rng.integers(1, high, size=(batch, *self.shape), dtype=np.int64)
        return rng.random((batch, *self.shape), dtype=np.float32)

    def random(self, batch: int, *, seed: int = 0) -> torch.Tensor:
        """:meth:`random_numpy` as a tensor."""
        return torch.from_numpy(self.random_numpy(batch, seed=seed))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"shape": list(self.shape), "dtype": self.dtype}
        if self.high is not None:
            out["high"] = self.high
        if self.layout is not None:
            out["layout"] = self.layout
        return out

    @classmethod
    def of_data(cls, x: np.ndarray | torch.Tensor) -> InputSpec:
        """The spec of a data batch ``x`` (integer data: ids up to its maximum)."""
        array = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if array.dtype.kind in "iu":
            return cls(tuple(array.shape[1:]), "int64", int(array.max()) + 1 if array.size else None, "tokens")
        return cls(tuple(array.shape[1:]))


def input_spec(model: nn.Module, shape: Sequence[int] | None = None) -> InputSpec:
    """The input ``model`` takes; ``shape`` (without batch) overrides the shape the model states.

    A model that states nothing (a plain ``nn.Module`` without a netslim architecture) needs ``shape`` and is then
    assumed to take float32.
    """
    found = _stated(model)
    if shape is not None:
        size = tuple(int(s) for s in shape)
        return dataclasses.replace(found, shape=size) if found is not None else InputSpec(size)
    if found is None:
        raise ConfigError(
            f"{type(model).__name__} does not state its input shape; pass one (input_shape=(1, 28, 28), "
            "--input-shape 1,28,28) or an example batch"
        )
    return found


def _stated(model: nn.Module) -> InputSpec | None:
    specs = getattr(model, "input_specs", None)
    if isinstance(specs, list) and specs:  # a GraphNet (converted from Keras or ONNX)
        first = specs[0]
        dtype = str(first.get("dtype", "float32"))
        high = _vocabulary(model) if dtype.startswith("int") else None
        return InputSpec(tuple(first["shape"]), dtype, high, first.get("layout"))
    if type(model).__name__ == "TokenIdsClassifier":
        config = getattr(getattr(model, "model", None), "config", None)
        vocab = getattr(config, "vocab_size", None)
        longest = getattr(config, "max_position_embeddings", None) or DEFAULT_TOKENS
        return InputSpec((min(DEFAULT_TOKENS, int(longest)),), "int64", vocab, "tokens")
    arch = getattr(model, "netslim_arch", None)
    shape = getattr(arch, "input_shape", None)
    if shape:
        return InputSpec(tuple(shape))
    return None


def _vocabulary(model: nn.Module) -> int | None:
    tables = [m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)]
    return min(tables) if tables else None
