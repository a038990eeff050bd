"""Mixed precision: how much accuracy each layer loses when quantized alone, and a bit allocation under a size budget.

Example:
    >>> sens = layer_sensitivity(model, data.val, choices=(8, 4, 2))  # doctest: +SKIP
    >>> bits = allocate_bits(sens, layer_sizes(model), budget_bytes=20_000, choices=(8, 4, 2))  # doctest: +SKIP
    >>> quantize_(model, QuantConfig(activations=None, overrides=bit_overrides(bits)))  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

from torch import nn

from netslim.data import ArrayDataset
from netslim.errors import BudgetNotMetError, ConfigError, DataError
from netslim.quant.fold import set_submodule
from netslim.quant.modules import QuantSpec, quantizable
from netslim.quant.qtypes import Granularity, qtype
from netslim.train.evaluate import evaluate

__all__ = ["allocate_bits", "bit_overrides", "layer_sensitivity", "layer_sizes"]


def layer_sizes(model: nn.Module) -> dict[str, int]:
    """Number of weights of every quantizable layer, by name."""
    return {n: m.weight.numel() for n, m in model.named_modules() if quantizable(m) is not None}  # type: ignore[union-attr]


def layer_sensitivity(
    model: nn.Module,
    data: ArrayDataset,
    choices: Sequence[int] = (8, 4, 2),
    granularity: Granularity | str = "per_channel",
) -> dict[str, dict[int, float]]:
    """Accuracy drop on ``data`` (fraction, float accuracy minus quantized) when only one layer's weights are
    quantized to ``int{bits}`` (1 bit means binary), for every quantizable layer and every width in ``choices``.
    ``model`` is not modified."""
    if len(data) == 0:
        raise DataError(f"dataset {data.name!r} is empty; sensitivity needs validation samples")
    grain = Granularity.parse(granularity, owner="layer_sensitivity.granularity")
    baseline = evaluate(model, data).accuracy
    result: dict[str, dict[int, float]] = {}
    for name in layer_sizes(model):
        result[name] = {}
        for bits in choices:
            trial = copy.deepcopy(model)
            layer = trial.get_submodule(name)
            cls = quantizable(layer)
            assert cls is not None
            spec = QuantSpec(
                weights=qtype(bits, owner="layer_sensitivity.choices"), activations=None, granularity=grain
            )
            set_submodule(trial, name, cls.from_float(layer, spec, name))
            result[name][bits] = baseline - evaluate(trial, data).accuracy
    return result


def allocate_bits(
    sensitivities: Mapping[str, Mapping[int, float]],
    sizes: Mapping[str, int],
    budget_bytes: float,
    choices: Sequence[int] = (8, 4, 2),
) -> dict[str, int]:
    """Bits per layer so that the quantized weights fit ``budget_bytes`` (``sum(size * bits / 8)``).

    Greedy: start every layer at the widest choice; while over budget, lower by one step the layer whose next step
    costs the least added accuracy drop per byte saved (drops taken from ``sensitivities[layer][bits]``). Greedy is
    optimal when each layer's drop grows convexly as bits shrink, and near-optimal otherwise; it needs no
    discretization of sizes, unlike a knapsack DP. An unreachable budget is a BudgetNotMetError with the minimum.
    """
    steps = sorted(set(choices), reverse=True)
    if not steps or any(b < 1 for b in steps):
        raise ConfigError(f"allocate_bits: choices must be positive bit widths, got {tuple(choices)}")
    missing = sorted(set(sizes) - set(sensitivities))
    if missing:
        raise ConfigError(f"allocate_bits: no sensitivities for layers {missing}; run layer_sensitivity first")
    level = dict.fromkeys(sizes, 0)

    def total() -> float:
        return sum(sizes[n] * steps[i] / 8 for n, i in level.items())

    while total() > budget_bytes:
        candidates = []
        for name, i in level.items():
            if i + 1 < len(steps):
                saved = sizes[name] * (steps[i] - steps[i + 1]) / 8
                cost = sensitivities[name].get(steps[i + 1], 0.0) - sensitivities[name].get(steps[i], 0.0)
                candidates.append((cost / max(saved, 1e-12), name))
        if not candidates:
            raise BudgetNotMetError(
                f"allocate_bits: budget {budget_bytes:.0f} bytes is below the smallest allocation "
                f"({total():.0f} bytes with every layer at {steps[-1]} bits); raise the budget or add narrower choices"
            )
        level[min(candidates)[1]] += 1
    return {name: steps[i] for name, i in level.items()}


def bit_overrides(bits: Mapping[str, int]) -> dict[str, str]:
    """``{layer: bits}`` as ``QuantConfig.overrides`` (``{layer: "int4"}``; 1 bit becomes ``"binary"``)."""
    return {name: qtype(b, owner=f"bit_overrides[{name!r}]").name for name, b in bits.items()}
