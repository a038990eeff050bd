"""Data-parallel training under ``torchrun``: when a process group is initialised, ``train_`` wraps the model in
DistributedDataParallel (gloo on CPU, NCCL on GPUs) and each rank trains on its shard of every global batch.

Usage::

    torchrun --nproc_per_node=2 my_script.py     # my_script calls torch.distributed.init_process_group("gloo")

``TrainConfig.batch_size`` is per process: the global batch is ``batch_size * world_size``. Every rank shuffles with
the same seed and takes every ``world``-th sample of each global batch, so the ranks stay in lockstep and their
parameters stay identical.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import torch
from torch import nn


@dataclasses.dataclass(frozen=True)
class Parallel:
    """This process's place in the data-parallel group (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1

    @classmethod
    def detect(cls) -> Parallel:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    def wrap(self, model: nn.Module) -> nn.Module:
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model)

    def shard(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """This rank's share of a global batch (every rank sees the same global batch order); None when the batch
        is too small to give every rank a sample, so all ranks skip it together."""
        if not self.active:
            return x, y
        if len(y) < self.world:
            return None
        return x[self.rank :: self.world], y[self.rank :: self.world]

    @contextlib.contextmanager
    def no_sync(self, net: nn.Module, skip: bool) -> Iterator[None]:
        """Accumulate gradients locally (no all-reduce) when ``skip``: full-batch GD syncs only its last chunk."""
        no_sync = getattr(net, "no_sync", None)
        if skip and self.active and callable(no_sync):
            with no_sync():
                yield
        else:
            yield
