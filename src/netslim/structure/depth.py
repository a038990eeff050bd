"""Depth reduction: replace shape-preserving (residual) blocks by ``nn.Identity``.

>>> import torch
>>> from netslim.models import build_model
>>> model = build_model("res_cnn", (1, 8, 8))
>>> record = remove_blocks_(model, RemoveBlocksConfig(["block1"]), example=torch.zeros(1, 1, 8, 8))
>>> type(model.block1).__name__, record.params_after < record.params_before
('Identity', True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from netslim.analyze.profile import profile
from netslim.errors import ConfigError, UnsupportedLayerError
from netslim.models.arch import architecture_of
from netslim.structure.config import RemoveBlocksConfig
from netslim.structure.prune import require_example
from netslim.transform import LayerChange, Record, transform


def _shapes(model: nn.Module, example: torch.Tensor, names: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    seen: dict[str, tuple[Any, Any]] = {}
    handles = []
    for name in names:

        def hook(mod: nn.Module, args: tuple[Any, ...], out: Any, name: str = name) -> None:
            ins = tuple(tuple(a.shape) for a in args if isinstance(a, torch.Tensor))
            outs = tuple(out.shape) if isinstance(out, torch.Tensor) else None
            seen.setdefault(name, (ins, outs))

        handles.append(model.get_submodule(name).register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return seen


@transform("remove_blocks_", RemoveBlocksConfig)
def remove_blocks_(
    model: nn.Module,
    config: RemoveBlocksConfig,
    *,
    example: torch.Tensor | None = None,
    data: Any = None,
    teacher: nn.Module | None = None,
) -> Record:
    """Replace each block of ``config.blocks`` by ``nn.Identity`` after checking, by a forward pass on ``example``,
    that it takes one tensor and returns one of the same shape. The removal is recorded in the model's architecture
    so :func:`netslim.models.load_model` rebuilds it."""
    if not isinstance(config, RemoveBlocksConfig):
        raise ConfigError(f"remove_blocks_ expects a RemoveBlocksConfig, got {type(config).__name__}")
    example = require_example("remove_blocks_", example, data)
    names = list(config.blocks)
    blocks = [n for n, m in model.named_modules() if n and any(True for _ in m.children())]
    for name in names:
        if name not in dict(model.named_modules()) or not name:
            raise ConfigError(f"remove_blocks_: no block {name!r}; blocks with children: {', '.join(blocks)}")
    seen = _shapes(model, example, names)
    for name in names:
        ins, out = seen.get(name, ((), None))
        if name not in seen:
            raise UnsupportedLayerError(f"remove_blocks_: {name} is never called by forward(); nothing to remove")
        if len(ins) != 1 or ins[0] != out:
            raise UnsupportedLayerError(
                f"remove_blocks_: {name} maps inputs {list(ins)} to {out}; only a block whose single input and output "
                "have the same shape can become nn.Identity"
            )
    before = profile(model, example=example, measure_latency=False)
    rows = []
    for name in names:
        block = model.get_submodule(name)
        params = sum(p.numel() for p in block.parameters())
        macs = sum(r.macs for r in before.layers if r.name == name or r.name.startswith(name + "."))
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, nn.Identity())
        rows.append(
            LayerChange(name, type(block).__name__, "removed", seen[name][1], seen[name][1], params, 0, macs, 0)
        )
    arch = architecture_of(model, create=True)
    if arch is not None:
        arch.replaced.update(dict.fromkeys(names, "identity"))
    after = profile(model, example=example, measure_latency=False)
    return Record(
        verb="remove_blocks_",
        config=config.to_dict(),
        layers=tuple(rows),
        params_before=before.total_params,
        params_after=after.total_params,
        macs_before=before.total_macs,
        macs_after=after.total_macs,
        bytes_before=4 * before.total_params,
        bytes_after=4 * after.total_params,
    )
