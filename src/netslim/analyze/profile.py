"""Per-layer profile: parameters, MACs, activation memory and measured latency, with a bottleneck ranking."""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from netslim.analyze.macs import rule_for
from netslim.bench.timing import TimingConfig, time_model, torch_threads
from netslim.errors import ConfigError

FUNCTIONAL = "(functional ops)"


@dataclasses.dataclass(frozen=True)
class LayerProfile:
    name: str
    type: str
    params: int
    macs: int
    output_shape: tuple[int, ...]
    activation_bytes: int
    latency_ms: float | None = None  # median over repeated runs, measured with hooks around this layer

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ModelProfile:
    """The profile of one model at one input shape and batch size."""

    input_shape: tuple[int, ...]
    batch_size: int
    layers: list[LayerProfile]
    total_params: int
    total_macs: int
    flop_counter_macs: int  # torch.utils.flop_counter's FLOPs / 2, for cross-checking
    latency_ms: float | None  # median of the whole model, measured without hooks
    threads: int

    @property
    def activation_bytes(self) -> int:
        return sum(layer.activation_bytes for layer in self.layers)

    @property
    def peak_activation_bytes(self) -> int:
        return max((layer.activation_bytes for layer in self.layers), default=0)

    def layer(self, name: str) -> LayerProfile:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer {name!r} in the profile; layers: {[layer.name for layer in self.layers]}")

    def bottlenecks(self, top: int = 3) -> list[tuple[LayerProfile, float, float]]:
        """Layers ranked by measured time share (MAC share when latency was not measured):
        ``(layer, mac_share, time_share)``."""
        timed = sum(layer.latency_ms or 0.0 for layer in self.layers)
        rows = [
            (
                layer,
                layer.macs / self.total_macs if self.total_macs else 0.0,
                (layer.latency_ms or 0.0) / timed if timed else 0.0,
            )
            for layer in self.layers
        ]
        rows.sort(key=lambda r: (r[2], r[1]) if timed else (r[1], r[2]), reverse=True)
        return rows[:top]

    def summary(self, top: int = 3) -> list[str]:
        """Human sentences such as ``"conv2: 78% of MACs, 71% of measured time"``."""
        out = []
        for layer, mac_share, time_share in self.bottlenecks(top):
            text = f"{layer.name}: {mac_share:.0%} of MACs"
            if layer.latency_ms is not None:
                text += f", {time_share:.0%} of measured time"
            out.append(text)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "batch_size": self.batch_size,
            "threads": self.threads,
            "total_params": self.total_params,
            "total_macs": self.total_macs,
            "flop_counter_macs": self.flop_counter_macs,
            "latency_ms": self.latency_ms,
            "activation_bytes": self.activation_bytes,
            "peak_activation_bytes": self.peak_activation_bytes,
            "layers": [layer.to_dict() for layer in self.layers],
            "bottlenecks": self.summary(),
        }


def profiled_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules a profile reports: those with a MAC rule (not descended into) and every other leaf module."""
    found: list[tuple[str, nn.Module]] = []

    def visit(prefix: str, module: nn.Module) -> None:
        children = list(module.named_children())
        if prefix and (rule_for(module) is not None or not children):
            found.append((prefix, module))
            return
        for child_name, child in children:
            visit(f"{prefix}.{child_name}" if prefix else child_name, child)

    visit("", model)
    return found


def profile(
    model: nn.Module,
    input_shape: Sequence[int] | None = None,
    *,
    example: torch.Tensor | None = None,
    batch_size: int = 1,
    measure_latency: bool = True,
    timing: TimingConfig | None = None,
) -> ModelProfile:
    """Profile ``model`` on a random input of ``(batch_size, *input_shape)`` (or on ``example``); without
    ``input_shape`` the input the model states (:func:`netslim.models.inputs.input_spec`: its shape, and int64 token
    ids for a token model).

    The model is not modified (it runs in eval mode; its training flag is restored).

    >>> from netslim.models import build_model
    >>> p = profile(build_model("seed_cnn", (1, 28, 28)), (1, 28, 28), measure_latency=False)
    >>> p.total_macs
    2631040
    """
    if example is None:
        if batch_size < 1:
            raise ConfigError(f"profile(): batch_size must be >= 1, got {batch_size}")
        from netslim.models.inputs import input_spec

        # the model says its input (dtype, token-id range) where it can; input_shape overrides the shape
        example = input_spec(model, input_shape).random(batch_size)
    timing = timing or TimingConfig(warmup=5, repeats=30)
    layers = profiled_layers(model)
    was_training = model.training
    model.eval()
    try:
        with torch_threads(timing.threads) as threads:
            shapes, flops = _shape_pass(model, layers, example)
            latencies = _layer_latencies(model, layers, example, timing) if measure_latency else {}
            whole = time_model(model, example, timing).median_ms if measure_latency else None
    finally:
        model.train(was_training)
    root = type(model).__name__
    rows: list[LayerProfile] = []
    for name, module in layers:
        if name not in shapes:
            continue  # a module that the forward pass never called (e.g. MHA's out_proj)
        inputs, output = shapes[name]
        rule = rule_for(module)
        macs = rule(module, inputs, output) if rule else flops.get(f"{root}.{name}", 0) // 2
        rows.append(
            LayerProfile(
                name=name,
                type=type(module).__name__,
                params=sum(p.numel() for p in module.parameters()),
                macs=macs,
                output_shape=tuple(output.shape),
                activation_bytes=output.numel() * output.element_size(),
                latency_ms=latencies.get(name),
            )
        )
    counter_macs = flops.get("Global", 0) // 2
    leftover = counter_macs - sum(r.macs for r in rows)
    if leftover > 0:  # matmuls written inline in a forward(), outside any layer
        rows.append(LayerProfile(FUNCTIONAL, "functional", 0, leftover, (), 0, None))
    return ModelProfile(
        input_shape=tuple(example.shape[1:]),
        batch_size=int(example.shape[0]),
        layers=rows,
        total_params=sum(p.numel() for p in model.parameters()),
        total_macs=sum(r.macs for r in rows),
        flop_counter_macs=counter_macs,
        latency_ms=whole,
        threads=threads,
    )


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, tuple | list):
        return next((t for t in (_first_tensor(v) for v in value) if t is not None), None)
    return None


def _shape_pass(
    model: nn.Module, layers: list[tuple[str, nn.Module]], example: torch.Tensor
) -> tuple[dict[str, tuple[tuple[torch.Tensor, ...], torch.Tensor]], dict[str, int]]:
    seen: dict[str, tuple[tuple[torch.Tensor, ...], torch.Tensor]] = {}
    handles = []
    for name, module in layers:

        def hook(mod: nn.Module, args: tuple[Any, ...], output: Any, name: str = name) -> None:
            out = _first_tensor(output)
            if out is not None and name not in seen:
                seen[name] = (tuple(a for a in args if isinstance(a, torch.Tensor)), out.detach())

        handles.append(module.register_forward_hook(hook))
    try:
        counter = FlopCounterMode(display=False)
        with torch.inference_mode(), counter:
            model(example)
    finally:
        for h in handles:
            h.remove()
    flops = {name: int(sum(ops.values())) for name, ops in counter.get_flop_counts().items()}
    return seen, flops


def _layer_latencies(
    model: nn.Module, layers: list[tuple[str, nn.Module]], example: torch.Tensor, timing: TimingConfig
) -> dict[str, float]:
    starts: dict[str, float] = {}
    samples: dict[str, list[float]] = {name: [] for name, _ in layers}
    handles = []
    for name, module in layers:

        def pre(mod: nn.Module, args: Any, name: str = name) -> None:
            starts[name] = time.perf_counter()

        def post(mod: nn.Module, args: Any, output: Any, name: str = name) -> None:
            samples[name].append(time.perf_counter() - starts[name])

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        with torch.inference_mode():
            for _ in range(timing.warmup):
                model(example)
            for values in samples.values():
                values.clear()
            for _ in range(timing.repeats):
                model(example)
    finally:
        for h in handles:
            h.remove()
    return {name: statistics.median(v) * 1e3 for name, v in samples.items() if v}
