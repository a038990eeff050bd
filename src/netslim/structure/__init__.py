"""Structural compression: dependency-aware channel pruning that yields smaller dense models, width resizing,
and block removal. See :func:`analyze_structure` for the dependency groups and :func:`prune_` for the verb."""

from netslim.structure.config import Importance, PruneConfig, Scope
from netslim.structure.depth import remove_blocks_
from netslim.structure.graph import analyze_structure
from netslim.structure.group import Dim, Group, Member, StructureReport
from netslim.structure.importance import group_importance, taylor_saliency
from netslim.structure.iterative import IterativeRecord, prune_iteratively_
from netslim.structure.prune import prune_, remove_channels_, resize_
from netslim.structure.record import GroupChange, LayerChange, PruneRecord

__all__ = [
    "Dim",
    "Group",
    "GroupChange",
    "Importance",
    "IterativeRecord",
    "LayerChange",
    "Member",
    "PruneConfig",
    "PruneRecord",
    "Scope",
    "StructureReport",
    "analyze_structure",
    "group_importance",
    "prune_",
    "prune_iteratively_",
    "remove_blocks_",
    "remove_channels_",
    "resize_",
    "taylor_saliency",
]
