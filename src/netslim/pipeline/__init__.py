"""End-to-end paths built from the techniques: ``optimize`` (prune, distil, quantize, export, select)."""

from netslim.pipeline.config import OptimizeConfig
from netslim.pipeline.optimize import OptimizeResult, Variant, optimize

__all__ = ["OptimizeConfig", "OptimizeResult", "Variant", "optimize"]
