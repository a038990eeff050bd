"""Structural compression: dependency-aware channel pruning that yields smaller dense models, width resizing,
and block removal. See :func:`analyze_structure` for the dependency groups and :func:`prune_` for the verb."""

from netslim.structure.activation import Activation, ActivationConfig, SwapActivationConfig, swap_activation_
from netslim.structure.config import (
    Importance,
    PruneConfig,
    RemoveBlocksConfig,
    RemoveChannelsConfig,
    ResizeConfig,
    Scope,
)
from netslim.structure.decompose import ConvMethod, DecomposeConfig, TimeOn, decompose_
from netslim.structure.depth import remove_blocks_
from netslim.structure.edit import FactorChange
from netslim.structure.graph import analyze_structure
from netslim.structure.group import Dim, Group, Member, StructureReport
from netslim.structure.importance import group_importance, taylor_saliency
from netslim.structure.iterative import IterativePruneConfig, prune_iteratively_
from netslim.structure.kernel import KernelConfig, set_kernel_
from netslim.structure.prune import prune_, remove_channels_, resize_
from netslim.structure.record import GroupChange
from netslim.structure.separable import SeparableConfig, separable_

__all__ = [
    "Activation",
    "ActivationConfig",
    "ConvMethod",
    "DecomposeConfig",
    "Dim",
    "FactorChange",
    "Group",
    "GroupChange",
    "Importance",
    "IterativePruneConfig",
    "KernelConfig",
    "Member",
    "PruneConfig",
    "RemoveBlocksConfig",
    "RemoveChannelsConfig",
    "ResizeConfig",
    "Scope",
    "SeparableConfig",
    "StructureReport",
    "SwapActivationConfig",
    "TimeOn",
    "analyze_structure",
    "decompose_",
    "group_importance",
    "prune_",
    "prune_iteratively_",
    "remove_blocks_",
    "remove_channels_",
    "resize_",
    "separable_",
    "set_kernel_",
    "swap_activation_",
    "taylor_saliency",
]
