"""Finding the bottleneck: per-layer parameters, MACs, activation memory and measured latency."""

from netslim.analyze.macs import mac_rule
from netslim.analyze.profile import LayerProfile, ModelProfile, profile, profiled_layers

__all__ = ["LayerProfile", "ModelProfile", "mac_rule", "profile", "profiled_layers"]
