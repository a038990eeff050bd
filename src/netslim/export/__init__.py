"""Export to deployment formats with a parity check against the torch model, and the artifact directory."""

from netslim.export.artifact import Artifact, load_artifact, save_artifact, write_artifact
from netslim.export.nbits import MatMulNBitsLinear, NBitsChoice, nbits_model
from netslim.export.onnx import ExportConfig, ExportRecord, export_bytes, export_onnx, to_onnx_bytes
from netslim.export.parity import ParityReport, compare_outputs, require_parity

__all__ = [
    "Artifact",
    "ExportConfig",
    "ExportRecord",
    "MatMulNBitsLinear",
    "NBitsChoice",
    "ParityReport",
    "compare_outputs",
    "export_bytes",
    "export_onnx",
    "load_artifact",
    "nbits_model",
    "require_parity",
    "save_artifact",
    "to_onnx_bytes",
    "write_artifact",
]
