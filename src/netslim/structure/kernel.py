"""Change a conv's kernel size, stride and padding (the seed's 3.1.1 / 4.1.2), fixing the Linear layers downstream.

The new kernel starts from the old one: a larger kernel embeds the old one at its centre (zeros around it, so with
'same' padding and stride 1 the layer computes exactly what it did), a smaller one takes the old kernel's centre
crop. When the spatial size of a flattened map changes, each Linear that consumes it gets the new ``in_features``:
its weight, viewed as ``(out, C, H, W)``, is resampled to the new ``(H', W')`` (bilinear, antialiased) and scaled
by ``H*W / (H'*W')`` so that a constant map keeps its response; when no ``nn.Flatten`` with that layout is found
the Linear's weight is re-initialised (the bias is kept). Fine-tuning is expected afterwards.

>>> import torch
>>> from netslim.models import build_model
>>> model = build_model("seed_cnn", (1, 8, 8))
>>> config = KernelConfig(layers=("conv1",), kernel_size=5, padding="same")
>>> record = set_kernel_(model, config, example=torch.zeros(1, 1, 8, 8))
>>> model.conv1.kernel_size, model.fc1.in_features
((5, 5), 256)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netslim.config import Config
from netslim.errors import ConfigError
from netslim.structure.edit import capture_inputs, params, replace, run_edit, select_layers
from netslim.structure.prune import require_example
from netslim.transform import LayerChange, Record, transform

Pair = tuple[int, int]


def _pair(owner: str, field: str, value: Any, low: int) -> Pair | None:
    if value is None:
        return None
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= low for v in pair):
        raise ConfigError(f"{owner}.{field} must be an int >= {low} or a pair of them, got {value!r}")
    return (int(pair[0]), int(pair[1]))


@dataclasses.dataclass(frozen=True)
class KernelConfig(Config):
    """For the ``nn.Conv2d`` layers matched by the name globs ``layers``: the new ``kernel_size`` and ``stride``
    (an int or an (h, w) pair; None keeps the layer's), and ``padding``:
    'same', 'valid', an int or pair, or None to keep the layer's padding. 'same' with a stride > 1 becomes the
    symmetric padding ``(k - 1) // 2`` (output ``ceil(H / stride)``, Keras' 'same'); it needs odd kernels there."""

    layers: tuple[str, ...] = ()
    kernel_size: int | tuple[int, int] | None = None
    stride: int | tuple[int, int] | None = None
    padding: str | int | tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", (self.layers,) if isinstance(self.layers, str) else tuple(self.layers))
        if not self.layers:
            raise ConfigError("KernelConfig.layers must name at least one conv layer (a name glob, e.g. 'conv1')")
        object.__setattr__(self, "kernel_size", _pair("KernelConfig", "kernel_size", self.kernel_size, 1))
        object.__setattr__(self, "stride", _pair("KernelConfig", "stride", self.stride, 1))
        if isinstance(self.padding, str):
            if self.padding not in ("same", "valid"):
                raise ConfigError(
                    f"KernelConfig.padding must be 'same', 'valid', an int, a pair or None, got {self.padding!r}"
                )
        else:
            object.__setattr__(self, "padding", _pair("KernelConfig", "padding", self.padding, 0))
        if self.kernel_size is None and self.stride is None and self.padding is None:
            raise ConfigError("KernelConfig: set at least one of kernel_size, stride, padding (all are None)")


@transform("set_kernel_", KernelConfig)
def set_kernel_(
    model: nn.Module,
    config: KernelConfig,
    *,
    example: torch.Tensor | None = None,
    data: Any = None,
    teacher: nn.Module | None = None,
) -> Record:
    """Rebuild each ``nn.Conv2d`` that ``config.layers`` selects with its new kernel/stride/padding, in place, and
    resize the Linear layers whose flattened input changed. A non-conv selector, or a change that makes a feature map
    empty, is a ConfigError naming the layer; the model is left untouched then."""
    if not isinstance(config, KernelConfig):
        raise ConfigError(f"set_kernel_ expects a KernelConfig, got {type(config).__name__}")
    example = require_example("set_kernel_", example, data)
    plan = dict.fromkeys(select_layers("set_kernel_", config.layers, model, (nn.Conv2d,)), config)
    inputs = capture_inputs(model, example, plan)
    new = {name: _rebuilt(name, model.get_submodule(name), cfg, inputs.get(name)) for name, cfg in plan.items()}
    resized = _discover_linears(model, example, new)

    def apply() -> tuple[list[LayerChange], dict[str, str], list[Any]]:
        rows, notes = [], {}
        for name, (conv, note) in {**new, **resized}.items():
            old = model.get_submodule(name)
            rows.append(
                LayerChange(name, type(conv).__name__, "kernel", _shape(old), _shape(conv), params(old), params(conv))
            )
            notes[name] = note
            replace(model, name, conv)
        return rows, notes, []

    return run_edit("set_kernel_", config.to_dict(), model, example, apply)


def _shape(module: nn.Module) -> tuple[int, ...]:
    return tuple(module.weight.shape)  # type: ignore[union-attr, arg-type]


def _rebuilt(name: str, conv: nn.Module, cfg: KernelConfig, x: torch.Tensor | None) -> tuple[nn.Conv2d, str]:
    assert isinstance(conv, nn.Conv2d)  # select_layers returned only convs
    kernel: tuple[int, ...] = tuple(cfg.kernel_size or conv.kernel_size)  # type: ignore[arg-type]
    stride: tuple[int, ...] = tuple(cfg.stride or conv.stride)  # type: ignore[arg-type]
    padding: Any = conv.padding if cfg.padding is None else cfg.padding
    if padding == "same" and max(stride) > 1:
        if kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
            raise ConfigError(
                f"set_kernel_: {name}: padding 'same' with stride {stride} needs an odd kernel, got {kernel}"
            )
        padding = tuple(d * (k - 1) // 2 for d, k in zip(conv.dilation, kernel, strict=True))
    if x is not None:
        pads = (0, 0) if padding == "valid" else padding
        for axis in (0, 1):
            size = x.shape[-2 + axis]
            span = conv.dilation[axis] * (kernel[axis] - 1) + 1
            if padding != "same" and size + 2 * pads[axis] < span:
                raise ConfigError(
                    f"set_kernel_: {name}: kernel {tuple(kernel)} with padding {padding} makes its {size}-pixel "
                    f"input map empty; use padding='same' or a smaller kernel"
                )
    new = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        tuple(kernel),  # type: ignore[arg-type]
        stride=tuple(stride),  # type: ignore[arg-type]
        padding=padding,
        dilation=conv.dilation,  # type: ignore[arg-type]
        groups=conv.groups,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    )
    with torch.no_grad():
        new.weight.zero_()
        dst, src = [slice(None)] * 2, [slice(None)] * 2
        for k_new, k_old in zip(kernel, conv.kernel_size, strict=True):
            common = min(k_new, k_old)
            dst.append(slice((k_new - common) // 2, (k_new - common) // 2 + common))
            src.append(slice((k_old - common) // 2, (k_old - common) // 2 + common))
        new.weight[tuple(dst)] = conv.weight[tuple(src)]
        if conv.bias is not None and new.bias is not None:
            new.bias.copy_(conv.bias)
    grown = kernel[0] >= conv.kernel_size[0] and kernel[1] >= conv.kernel_size[1]
    how = "old kernel embedded at the centre" if grown else "centre crop of the old kernel"
    how = "old kernel kept" if tuple(kernel) == conv.kernel_size else how
    return new, f"{tuple(conv.kernel_size)}/{tuple(conv.stride)} -> {tuple(kernel)}/{tuple(stride)}: {how}"


def _discover_linears(
    model: nn.Module, example: torch.Tensor, new: dict[str, tuple[nn.Conv2d, str]]
) -> dict[str, tuple[nn.Module, str]]:
    """Run the model with the new convs swapped in by hooks (the model is not modified) and return new Linears for
    those whose input size changed. A map that becomes empty downstream is a ConfigError naming both layers."""
    flat_old = _flatten_inputs(model, example)
    handles, wrong, current = [], {}, {"name": ""}
    for name, (conv, _) in new.items():
        handles.append(model.get_submodule(name).register_forward_hook(lambda m, a, o, c=conv: c(a[0])))
    for name, module in model.named_modules():
        if name and not any(True for _ in module.children()):
            handles.append(module.register_forward_pre_hook(lambda m, a, n=name: current.update(name=n)))
        if isinstance(module, nn.Linear):

            def fix(mod: nn.Module, args: tuple[Any, ...], name: str = name) -> Any:
                x = args[0]
                if x.shape[-1] != mod.in_features:
                    wrong[name] = int(x.shape[-1])
                    return (x.new_zeros(*x.shape[:-1], mod.in_features),)  # shapes downstream only depend on out
                return None

            handles.append(module.register_forward_pre_hook(fix))
    try:
        flat_new = _flatten_inputs(model, example)
    except RuntimeError as exc:
        raise ConfigError(
            f"set_kernel_: the new kernel/stride of {', '.join(new)} breaks the forward pass at {current['name']!r}"
            f" (a feature map became empty or mis-sized: {exc}); use padding='same', a smaller kernel or stride"
        ) from exc
    finally:
        for h in handles:
            h.remove()
    return {name: _resized_linear(model.get_submodule(name), size, flat_old, flat_new) for name, size in wrong.items()}


def _flatten_inputs(model: nn.Module, example: torch.Tensor) -> list[tuple[int, ...]]:
    """Input shapes (without batch) of every nn.Flatten, in call order."""
    seen: list[tuple[int, ...]] = []
    flats = [m for m in model.modules() if isinstance(m, nn.Flatten)]
    handles = [m.register_forward_pre_hook(lambda m, a: seen.append(tuple(a[0].shape[1:]))) for m in flats]
    try:
        capture_inputs(model, example, [])
    finally:
        for h in handles:
            h.remove()
    return seen


def _resized_linear(
    old: nn.Module, size: int, flat_old: list[tuple[int, ...]], flat_new: list[tuple[int, ...]]
) -> tuple[nn.Module, str]:
    assert isinstance(old, nn.Linear)
    new = nn.Linear(size, old.out_features, bias=old.bias is not None)
    layouts = [
        (a, b)
        for a, b in zip(flat_old, flat_new, strict=False)
        if len(a) == 3
        and len(b) == 3
        and a[0] == b[0]
        and a[0] * a[1] * a[2] == old.in_features
        and b[0] * b[1] * b[2] == size
    ]
    with torch.no_grad():
        if old.bias is not None and new.bias is not None:
            new.bias.copy_(old.bias)
        if not layouts:
            return new, f"in_features {old.in_features} -> {size}: weight re-initialised (no flattened map matched)"
        (c, h, w), (_, h2, w2) = layouts[-1]
        weight = old.weight.reshape(old.out_features, c, h, w)
        resampled = F.interpolate(weight, size=(h2, w2), mode="bilinear", align_corners=False, antialias=True)
        new.weight.copy_(resampled.reshape(old.out_features, size) * (h * w) / (h2 * w2))
    return new, f"in_features {old.in_features} -> {size}: weight resampled from a {h}x{w} to a {h2}x{w2} map"
