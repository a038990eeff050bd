"""Export to ONNX (fp32, dynamic batch), validated against the torch model before the file is written."""

from __future__ import annotations

import dataclasses
import io
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch

from netslim import atomic
from netslim.config import Config, check_range
from netslim.errors import ConfigError, ExportParityError, ModelLoadError
from netslim.export.nbits import NBitsChoice, nbits_model
from netslim.export.parity import ParityReport, compare_outputs, require_parity, torch_outputs
from netslim.export.qoperator import QOperatorReport, qoperator_bytes
from netslim.quant.modules import QuantModule

QUANT_FORMATS = ("qdq", "qoperator")


@dataclasses.dataclass(frozen=True)
class ExportConfig(Config):
    """``opset``: ONNX opset; ``dynamic_batch``: the first axis is symbolic; ``atol``: the largest absolute output
    difference accepted against torch on the parity inputs.

    ``int4_matmul``: export int4/uint4 weight-only Linear layers of a netslim-quantized model as ONNX Runtime's
    ``MatMulNBits`` (packed 4-bit codes, ~1/7 of the fp32 bytes; see :mod:`netslim.export.nbits`). Off by default:
    ``com.microsoft`` ops run on ONNX Runtime only, while the default QDQ/fp32 graph runs on any ONNX runtime.

    ``quant_format``: how a netslim-quantized model is written: ``"qdq"`` (Q/DQ around float ops; every runtime
    fuses them) or ``"qoperator"`` (QLinearConv / QGemm / integer pooling, see :mod:`netslim.export.qoperator`;
    ONNX Runtime only where a QGemm is written). Which is faster is a measurement; fp32 models ignore it."""

    opset: int = 17
    dynamic_batch: bool = True
    atol: float = 1e-4
    input_name: str = "input"
    output_name: str = "output"
    int4_matmul: bool = False
    quant_format: str = "qdq"

    def __post_init__(self) -> None:
        if self.quant_format not in QUANT_FORMATS:
            raise ConfigError(f"ExportConfig.quant_format must be one of {QUANT_FORMATS}, got {self.quant_format!r}")
        if not 13 <= self.opset <= 21:
            raise ConfigError(f"ExportConfig.opset must be between 13 and 21, got {self.opset}")
        check_range("ExportConfig", "atol", self.atol, 0, None, low_open=True)


@dataclasses.dataclass(frozen=True)
class ExportRecord:
    path: str
    bytes: int
    opset: int
    parity: ParityReport
    quantized: bool = False  # exported in QDQ form from a netslim-quantized model
    int4_matmul: tuple[NBitsChoice, ...] = ()  # with ExportConfig(int4_matmul=True): each quantized layer's fate
    quant_format: str | None = None  # "qdq" or "qoperator" for a quantized model
    qoperator: QOperatorReport | None = None  # with quant_format="qoperator": the layers and ops rewritten

    @property
    def matmul_nbits_layers(self) -> list[str]:
        """The layers exported as MatMulNBits."""
        return [c.layer for c in self.int4_matmul if c.converted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "bytes": self.bytes,
            "opset": self.opset,
            "quantized": self.quantized,
            "quant_format": self.quant_format,
            "qoperator": None if self.qoperator is None else self.qoperator.to_dict(),
            "int4_matmul": [dataclasses.asdict(c) for c in self.int4_matmul],
            "parity": self.parity.to_dict(),
        }


def to_onnx_bytes(model: torch.nn.Module, example: torch.Tensor, config: ExportConfig) -> bytes:
    """Serialize ``model`` (in eval mode, constants folded) to ONNX bytes with the TorchScript-based exporter."""
    was_training = model.training
    model.eval()
    buffer = io.BytesIO()
    axes = {config.input_name: {0: "batch"}, config.output_name: {0: "batch"}} if config.dynamic_batch else None
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        # the fused nn.TransformerEncoderLayer / MultiheadAttention fast path has no ONNX symbolic: export the
        # composite ops (identical maths), which ONNX Runtime's transformer optimizer can fuse again
        torch.backends.mha.set_fastpath_enabled(False)
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                buffer,  # type: ignore[arg-type]  # file-like objects are accepted
                dynamo=False,
                opset_version=config.opset,
                input_names=[config.input_name],
                output_names=[config.output_name],
                dynamic_axes=axes,
                do_constant_folding=True,
            )
    except Exception as exc:  # the exporter raises many types: name the model and the cause
        raise ExportParityError(f"{type(model).__name__}: ONNX export failed ({type(exc).__name__}: {exc})") from exc
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        model.train(was_training)
    return buffer.getvalue()


def parity(model: torch.nn.Module, onnx_bytes: bytes, inputs: torch.Tensor, config: ExportConfig) -> ParityReport:
    """Run the ONNX graph with ONNX Runtime on ``inputs`` and compare with torch."""
    from netslim.runtime.ort import OrtRuntime

    try:
        runtime = OrtRuntime(onnx_bytes, threads=None)
    except ModelLoadError as exc:
        raise ExportParityError(f"{type(model).__name__}: the exported graph cannot run ({exc})") from exc
    model.eval()
    reference = torch_outputs(model, inputs)
    got = runtime.run_all(inputs.detach().cpu().numpy())
    return compare_outputs(reference, got, runtime.output_names, config.atol)


def export_onnx(
    model: torch.nn.Module,
    example: torch.Tensor,
    path: str | Path,
    config: ExportConfig | None = None,
    *,
    parity_inputs: torch.Tensor | None = None,
) -> ExportRecord:
    """Export ``model`` to ``path``; the graph must match torch on ``parity_inputs`` (default: ``example``, and a
    second batch size when the batch is dynamic) or ExportParityError is raised and nothing is written.

    A model quantized by netslim (``quantize_``/``qat_``) is exported in QDQ form and checked against its own
    simulation, within ``max(config.atol, one step of the output range)`` (``max|y| / 127``; ``/ 7`` when some
    activations are 4-bit: see ``export.qdq.output_step``). With
    ``config.quant_format="qoperator"`` the QDQ graph is rewritten into integer operators (``record.qoperator`` lists
    them) and checked the same way. With ``config.int4_matmul`` its int4 weight-only Linear layers become
    MatMulNBits (``record.int4_matmul`` says which, and why not the others); a model whose quantized layers are all
    weight-only is then checked within ``config.atol``: its weights are exact and ONNX Runtime computes in fp32.

    >>> import tempfile, torch
    >>> from netslim.models import build_model
    >>> path = tempfile.mkdtemp() + "/m.onnx"
    >>> export_onnx(build_model("seed_cnn", (1, 8, 8)), torch.rand(2, 1, 8, 8), path).parity.ok
    True
    """
    data, record = export_bytes(model, example, config, parity_inputs=parity_inputs, what=str(path))
    atomic.write_bytes(path, data)
    return dataclasses.replace(record, path=str(path))


def export_bytes(
    model: torch.nn.Module,
    example: torch.Tensor,
    config: ExportConfig | None = None,
    *,
    parity_inputs: torch.Tensor | None = None,
    what: str = "ONNX graph",
) -> tuple[bytes, ExportRecord]:
    """The one export path (used by :func:`export_onnx`, the pipeline, the CLI and the benchmarks): the ONNX bytes
    of ``model`` (fp32, or canonical QDQ / QOperator for a netslim-quantized model) and their record, after the
    parity check that :func:`export_onnx` describes; ExportParityError when it fails."""
    from netslim.export.canonical import canonical_qdq
    from netslim.export.qdq import is_quantized, output_step, qdq_model

    config = config or ExportConfig()
    checks = [parity_inputs if parity_inputs is not None else example]
    if config.dynamic_batch and parity_inputs is None:
        checks.append(torch.cat([example, example[:1]]))
    graph_model, quantized = model, is_quantized(model)
    choices: tuple[NBitsChoice, ...] = ()
    if config.int4_matmul:
        graph_model, planned = nbits_model(model)
        choices = tuple(planned)
    elif quantized:
        graph_model = qdq_model(model)
    if quantized and not (config.int4_matmul and _weight_only(model)):
        config = config.replace(atol=max(config.atol, output_step(model, checks[0])))
    data = to_onnx_bytes(graph_model, example, config)
    qop: QOperatorReport | None = None
    if quantized:
        data = canonical_qdq(data)  # int8 weight initializers, Q/DQ behind each producer: integer kernels
        if config.quant_format == "qoperator":
            data, qop = qoperator_bytes(data)
    onnx.checker.check_model(onnx.load_from_string(data))
    reports = [parity(model, data, x, config) for x in checks]
    worst = max(reports, key=lambda r: r.max_abs_diff)
    require_parity(worst, f"{type(model).__name__} -> {what}")
    return data, ExportRecord(
        path="",
        bytes=len(data),
        opset=config.opset,
        parity=worst,
        quantized=quantized,
        int4_matmul=choices,
        quant_format=config.quant_format if quantized else None,
        qoperator=qop,
    )


def _weight_only(model: torch.nn.Module) -> bool:
    """No quantized layer of ``model`` quantizes its input (the exported weights are then exact)."""
    return all(m.input_quant is None for m in model.modules() if isinstance(m, QuantModule))
