"""A BERT-style encoder (transformers BertConfig, built offline) trained here on a synthetic sequence-classification
task, then run side by side in one process on the same weights:

- torch fp32 eager (the reference; SDPA attention);
- ONNX Runtime fp32, and the ONNX Runtime transformer optimizer (``model_type="bert"``: fused Attention,
  SkipLayerNormalization, BiasGelu, EmbedLayerNormalization) in fp32 and with ``quantize_dynamic`` (int8 weights,
  uint8 dynamic activations), on the usual two-input export (``input_ids``, ``attention_mask``; eager attention,
  which is what the fusion patterns match);
- OpenVINO fp32 and OpenVINO + NNCF int8 (``nncf.quantize(model_type=TRANSFORMER)`` on the OpenVINO model read from
  the same fp32 ONNX, calibrated on the same training samples as netslim);
- netslim: ``quantize_`` (int8 per-channel weights; activations uint8 with a zero point, QuantConfig's default, or
  symmetric int8; calibrated on training samples; layers whose quantized output SQNR falls below a floor are kept in
  fp32 through ``QuantConfig.skip``), ``export_onnx`` in QDQ form of the one-input
  :class:`~netslim.models.hf.TokenIdsClassifier`, run by netslim's OpenVINO runtime (and the uint8 graph
  by ONNX Runtime too). netslim quantizes the Linear layers; the attention matmuls (QK^T, AV) stay fp32.

The task ("marker majority"): 128-token sequences of random background tokens with a [CLS] token first; 16
positions hold marker tokens, each from the label's 8 markers with probability 1/2 and from another class's markers
otherwise; the label is the class whose markers the sequence holds most of in expectation (4 classes, chance 25%).

Reported per runtime: latency medians at batch 8 and batch 1 (x 128 tokens; warmed, interleaved, 2 threads, p10/p90)
with the speed-up over torch fp32 eager, held-out accuracy, and the cosine similarity of the logits to torch fp32
(the minimum over every held-out example, and the mean). OpenVINO's runtime model says which layers ran in integers,
and its per-layer counters (batch 8) where the time goes.

Usage: python benchmarks/transformer_encoder.py   (needs transformers, openvino and nncf)
"""

from __future__ import annotations

import copy
import io
import os
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from common import write_results
from netslim.bench import TimingConfig, compare
from netslim.data import ArrayDataset, Splits, calibration_subset
from netslim.export import export_onnx
from netslim.models.hf import TokenIdsClassifier
from netslim.quant import QuantConfig, quantize_
from netslim.runtime import OrtRuntime, TorchRuntime
from netslim.runtime.openvino import OvRuntime
from netslim.train import TrainConfig, evaluate, train_

THREADS = 2
TOKENS = 128
CLASSES, MARKERS_PER_CLASS, MARKERS_PER_SEQUENCE, OWN_MARKER_P = 4, 8, 16, 0.5
VOCAB = 1024
CLS_ID, FIRST_MARKER = 2, 4
BERT = dict(
    vocab_size=VOCAB,
    hidden_size=256,
    num_hidden_layers=4,
    num_attention_heads=4,
    intermediate_size=1024,
    max_position_embeddings=TOKENS,
    num_labels=CLASSES,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)
SIZES = {"train": 4000, "val": 500, "test": 1000}
RECIPE = TrainConfig(
    epochs=2, optimizer="adamw", lr=1e-3, weight_decay=0.01, batch_size=32, schedule="onecycle", max_grad_norm=1.0
)
CALIBRATION = 1024  # training samples, for netslim and NNCF alike
SQNR_FLOOR_DB = 20.0  # a layer whose W8A8 output SQNR (measured by quantize_) is below this stays fp32
BATCHES = (8, 1)
# netslim's schemes: per-channel symmetric int8 weights; activations as uint8 with a zero point (QuantConfig's
# default, the u8 x s8 kernels of VNNI CPUs), or as symmetric int8 (s8 x s8, native to AMX; no zero-point term)
NETSLIM = {
    "W8A8 u8": QuantConfig(batch_size=32),
    "W8A8 s8": QuantConfig(activations="int8", activation_symmetric=True, batch_size=32),
}
TIMING = TimingConfig(warmup=10, repeats=100, threads=THREADS)
OV_SETTINGS = {
    "PERFORMANCE_HINT": "LATENCY",
    "NUM_STREAMS": 1,
    "INFERENCE_NUM_THREADS": THREADS,
    "INFERENCE_PRECISION_HINT": "f32",  # the CPU plugin defaults to bf16 here: slow on this CPU, and lossy
}

Run = Callable[[np.ndarray], np.ndarray]


def marker_majority(n: int, seed: int, name: str) -> ArrayDataset:
    """``n`` sequences of the synthetic task (see the module docstring), int64 token ids of shape (n, TOKENS)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = rng.integers(FIRST_MARKER + CLASSES * MARKERS_PER_CLASS, VOCAB, (n, TOKENS))
    x[:, 0] = CLS_ID
    for i in range(n):
        where = rng.choice(np.arange(1, TOKENS), MARKERS_PER_SEQUENCE, replace=False)
        own = rng.random(MARKERS_PER_SEQUENCE) < OWN_MARKER_P
        other = (y[i] + rng.integers(1, CLASSES, MARKERS_PER_SEQUENCE)) % CLASSES
        marker_class = np.where(own, y[i], other)
        x[i, where] = FIRST_MARKER + marker_class * MARKERS_PER_CLASS + rng.integers(0, MARKERS_PER_CLASS, len(where))
    return ArrayDataset(x, y, name=name)


def make_splits() -> Splits:
    parts = [marker_majority(n, seed, f"marker-majority/{name}") for seed, (name, n) in enumerate(SIZES.items())]
    return Splits(*parts)


def bert(attention: str = "sdpa") -> nn.Module:
    import transformers

    config = transformers.BertConfig(**BERT, attn_implementation=attention)
    return transformers.BertForSequenceClassification(config)


class _WithMask(nn.Module):
    """The usual two-input export of a Hugging Face classifier (what the ORT transformer optimizer expects)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def two_input_onnx(model: TokenIdsClassifier, path: Path) -> Path:
    """The anchors' fp32 ONNX: the same weights in an eager-attention BertForSequenceClassification."""
    eager = bert("eager")
    eager.load_state_dict(model.model.state_dict())
    ids = torch.full((2, TOKENS), CLS_ID)
    buffer = io.BytesIO()
    names = ["input_ids", "attention_mask"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _WithMask(eager.eval()),
            (ids, torch.ones_like(ids)),
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=names,
            output_names=["logits"],
            dynamic_axes={n: {0: "batch"} for n in [*names, "logits"]},
        )
    path.write_bytes(buffer.getvalue())
    return path


class OrtTwoInputs:
    """An ONNX Runtime session fed ``input_ids`` and an all-ones ``attention_mask`` (built once per shape)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads, options.inter_op_num_threads = THREADS, 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.masks: dict[tuple[int, ...], np.ndarray] = {}

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        mask = self.masks.setdefault(ids.shape, np.ones(ids.shape, np.int64))
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


class OvTwoInputs:
    """An OpenVINO compiled model (f32 precision hint, 2 threads, one stream) fed ids and an all-ones mask."""

    def __init__(self, model: Any) -> None:
        import openvino as ov

        self.compiled = ov.Core().compile_model(model, "CPU", OV_SETTINGS)
        self.request = self.compiled.create_infer_request()
        self.masks: dict[tuple[int, ...], np.ndarray] = {}

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        mask = self.masks.setdefault(ids.shape, np.ones(ids.shape, np.int64))
        return np.array(self.request.infer({"input_ids": ids, "attention_mask": mask})[0], copy=True)


def ort_fused(fp32: Path, out: Path) -> tuple[Path, Path, dict[str, int]]:
    """ORT's transformer optimizer (fusions), then dynamic int8 quantization of the fused graph."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    fused = optimizer.optimize_model(
        str(fp32), model_type="bert", num_heads=BERT["num_attention_heads"], hidden_size=BERT["hidden_size"]
    )
    fusions = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    fused_path, int8_path = out / "ort_fused.onnx", out / "ort_fused_dynamic_int8.onnx"
    fused.save_model_to_file(str(fused_path))
    quantize_dynamic(
        str(fused_path),
        str(int8_path),
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # the fused graph has shape-less tensors
    )
    return fused_path, int8_path, fusions


def nncf_int8(fp32: Path, calibration: ArrayDataset) -> Any:
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(fp32))
    items = [calibration.x[i : i + 1] for i in range(len(calibration))]
    dataset = nncf.Dataset(items, lambda ids: {"input_ids": ids, "attention_mask": np.ones_like(ids)})
    return nncf.quantize(model, dataset, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(items))


def ov_layers(compiled: Any) -> dict[str, int]:
    """``{"FullyConnected u8": 24, ...}``: the compiled model's compute layers by execution precision."""
    counts: Counter[str] = Counter()
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        kind, precision = info["layerType"].astype(str), info["runtimePrecision"].astype(str)
        if kind in ("FullyConnected", "MatMul", "Subgraph", "ScaledDotProductAttention", "FakeQuantize", "Eltwise"):
            counts[f"{kind} {precision}"] += 1
    return dict(sorted(counts.items()))


def ov_profile(model: Any, feed: dict[Any, np.ndarray], runs: int = 20) -> dict[str, float]:
    """OpenVINO's per-layer counters (a separate compile with PERF_COUNT): median ms per call, summed by layer type
    and kernel (``"FullyConnected brgemm_avx512_amx_I8": 19.1``), largest first."""
    import openvino as ov

    compiled = ov.Core().compile_model(model, "CPU", {**OV_SETTINGS, "PERF_COUNT": True})
    request = compiled.create_infer_request()
    for _ in range(5):
        request.infer(feed)
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        request.infer(feed)
        call: Counter[str] = Counter()
        for info in request.profiling_info:
            call[f"{info.node_type} {info.exec_type}"] += info.real_time.total_seconds() * 1e3
        for key, ms in call.items():
            samples.setdefault(key, []).append(ms)
    medians = {key: float(np.median(v)) for key, v in samples.items()}
    return dict(sorted(((k, round(v, 3)) for k, v in medians.items() if v >= 0.01), key=lambda kv: -kv[1]))


def onnx_path(out: Path, scheme: str) -> Path:
    return out / f"netslim_{scheme.replace(' ', '_')}.onnx"


def netslim_int8(model: TokenIdsClassifier, splits: Splits, scheme: QuantConfig, path: Path) -> dict[str, Any]:
    """netslim's path: quantize_ with ``scheme`` (layers whose output SQNR is below the floor kept fp32), QDQ export
    with the parity check; the ONNX file is run by netslim's runtimes."""
    calibration = calibration_subset(splits.train, CALIBRATION)
    first = quantize_(copy.deepcopy(model), scheme, data=calibration)
    sensitive = tuple(x.name for x in first.layers if x.sqnr_db is not None and x.sqnr_db < SQNR_FLOOR_DB)
    quantized = copy.deepcopy(model)
    record = quantize_(quantized, scheme.replace(skip=sensitive), data=calibration)
    example = torch.from_numpy(splits.val.x[:2])
    parity = torch.from_numpy(splits.val.x[:64])
    export = export_onnx(quantized, example, path, parity_inputs=parity)
    return {
        "quant_config": record.config,
        "layer_sqnr_db": {x.name: x.sqnr_db for x in first.layers},
        "skipped": list(sensitive),
        "export": export.to_dict(),
    }


def logits_on(run: Run, data: ArrayDataset, batch: int = 8) -> np.ndarray:
    return np.concatenate([run(np.ascontiguousarray(data.x[i : i + batch])) for i in range(0, len(data), batch)])


def cosines(reference: np.ndarray, got: np.ndarray) -> np.ndarray:
    ref, out = reference.astype(np.float64), got.astype(np.float64)
    return (ref * out).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1))


def main() -> None:
    torch.manual_seed(0)
    load_before = os.getloadavg()
    splits = make_splits()
    model = TokenIdsClassifier(bert("sdpa"))
    start = time.perf_counter()
    trained = train_(model, splits, RECIPE)
    train_seconds = time.perf_counter() - start
    model.eval()
    print(f"trained in {train_seconds:.0f} s: test accuracy {evaluate(model, splits.test).accuracy:.2%}")
    train = {"seconds": train_seconds, "recipe": RECIPE.to_dict(), "record": trained.to_dict()}
    benchmark(model, splits, train, load_before)


def benchmark(model: TokenIdsClassifier, splits: Splits, train: dict[str, Any], load_before: tuple[float, ...]) -> None:
    """Build every runtime of the trained ``model``, score them on the held-out set, time them, write the results."""
    out = Path(tempfile.mkdtemp())
    fp32 = two_input_onnx(model, out / "fp32.onnx")
    fused, fused_int8, fusions = ort_fused(fp32, out)
    nncf_model = nncf_int8(fp32, calibration_subset(splits.train, CALIBRATION))
    ours = {name: netslim_int8(model, splits, scheme, onnx_path(out, name)) for name, scheme in NETSLIM.items()}
    ov_fp32, ov_nncf = OvTwoInputs(str(fp32)), OvTwoInputs(nncf_model)
    ov_ours = {name: OvRuntime(onnx_path(out, name), threads=THREADS) for name in NETSLIM}
    runners: dict[str, Run] = {
        "torch fp32 eager": TorchRuntime(model, threads=THREADS).run,
        "ONNX Runtime fp32": OrtTwoInputs(fp32),
        "ONNX Runtime fused fp32": OrtTwoInputs(fused),
        "ONNX Runtime fused + dynamic int8": OrtTwoInputs(fused_int8),
        "OpenVINO fp32": ov_fp32,
        "OpenVINO + NNCF int8": ov_nncf,
        "netslim W8A8 u8 / ONNX Runtime": OrtRuntime(onnx_path(out, "W8A8 u8"), threads=THREADS).run,
        **{f"netslim {name} / OpenVINO": runtime.run for name, runtime in ov_ours.items()},
    }

    reference = logits_on(runners["torch fp32 eager"], splits.test)
    rows: dict[str, dict[str, Any]] = {}
    for name, run in runners.items():
        got = logits_on(run, splits.test)
        cos = cosines(reference, got)
        rows[name] = {
            "test_accuracy": float((got.argmax(1) == splits.test.y).mean()),
            "min_cosine": float(cos.min()),
            "mean_cosine": float(cos.mean()),
            "max_abs_logit_diff": float(np.abs(got - reference).max()),
        }
    load_timing = os.getloadavg()
    rng = np.random.default_rng(0)
    for batch in BATCHES:
        ids = splits.test.x[rng.choice(len(splits.test), batch, replace=False)]
        timed = compare({n: (lambda r=r, x=ids: r(x)) for n, r in runners.items()}, TIMING, batch_size=batch)
        for name, t in timed.items():
            rows[name][f"b{batch}"] = t.to_dict()
    load_after = os.getloadavg()
    base = rows["torch fp32 eager"]
    for row in rows.values():
        for batch in BATCHES:
            row[f"speedup_b{batch}"] = base[f"b{batch}"]["median_ms"] / row[f"b{batch}"]["median_ms"]

    compiled = {"OpenVINO fp32": ov_fp32.compiled, "OpenVINO + NNCF int8": ov_nncf.compiled}
    compiled.update({f"netslim {name} / OpenVINO": runtime.compiled for name, runtime in ov_ours.items()})
    layers = {name: ov_layers(c) for name, c in compiled.items()}
    ids = np.ascontiguousarray(splits.test.x[:8])
    two = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    profiles = {
        "OpenVINO + NNCF int8": ov_profile(nncf_model, two),
        **{f"netslim {name} / OpenVINO": ov_profile(str(onnx_path(out, name)), {0: ids}) for name in NETSLIM},
    }
    table = [
        f"BERT encoder ({BERT['num_hidden_layers']} layers, hidden {BERT['hidden_size']}, {BERT['num_attention_heads']}"
        f" heads, FFN {BERT['intermediate_size']}) on the synthetic marker-majority task, {TOKENS} tokens: latency in "
        f"ms, median of warmed interleaved runs (p10-p90), {THREADS} threads; cosine of the logits to torch fp32 on "
        f"{len(splits.test)} held-out sequences. Load average (1 min) {load_before[0]:.2f} at start, "
        f"{load_timing[0]:.2f} before timing, {load_after[0]:.2f} after (this process's {THREADS} busy threads count "
        f"about {THREADS} of it).",
        "",
        "| runtime | b8 ms | b8 vs torch | b1 ms | b1 vs torch | test acc | min cos | mean cos |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        b8, b1 = r["b8"], r["b1"]
        table.append(
            f"| {name} | {b8['median_ms']:.2f} ({b8['p10_ms']:.2f}-{b8['p90_ms']:.2f}) | {r['speedup_b8']:.2f}x | "
            f"{b1['median_ms']:.2f} ({b1['p10_ms']:.2f}-{b1['p90_ms']:.2f}) | {r['speedup_b1']:.2f}x | "
            f"{r['test_accuracy']:.2%} | {r['min_cosine']:.5f} | {r['mean_cosine']:.5f} |"
        )
    table += ["", "OpenVINO compute layers by execution precision:", ""]
    table += [f"- {name}: {', '.join(f'{k} x{v}' for k, v in found.items())}" for name, found in layers.items()]
    table += ["", "OpenVINO per-layer time at batch 8 (PERF_COUNT, median ms per call, by layer and kernel):", ""]
    for name, profile in profiles.items():
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(profile.items())[:6])
        table.append(f"- {name}: total {sum(profile.values()):.2f}; {top}")
    table.append("")
    for name, found in ours.items():
        lowest = min(found["layer_sqnr_db"].items(), key=lambda kv: kv[1])
        skipped = ", ".join(found["skipped"]) or "none"
        table.append(
            f"- netslim {name}: kept in fp32 (output SQNR < {SQNR_FLOOR_DB:.0f} dB): {skipped}; lowest layer SQNR "
            f"{lowest[1]:.1f} dB ({lowest[0]})"
        )
    table += [f"ORT transformer optimizer fusions: {fusions}"]
    write_results(
        "transformer_encoder",
        {
            "rows": rows,
            "bert_config": BERT,
            "task": {
                "name": "marker-majority",
                "sizes": SIZES,
                "tokens": TOKENS,
                "classes": CLASSES,
                "markers_per_sequence": MARKERS_PER_SEQUENCE,
                "own_marker_p": OWN_MARKER_P,
            },
            "train": train,
            "netslim": {"sqnr_floor_db": SQNR_FLOOR_DB, "schemes": ours},
            "ort_fusions": fusions,
            "openvino_layers": layers,
            "openvino_profile_b8_ms": profiles,
            "load_average": {"start": load_before, "before_timing": load_timing, "after_timing": load_after},
        },
        table,
    )


if __name__ == "__main__":
    main()
