"""QTypes, granularities and the quantize/dequantize/fake_quantize contracts."""

from __future__ import annotations

import pytest
import torch

from netslim.errors import ConfigError
from netslim.quant import (
    QTYPES,
    Granularity,
    QKind,
    compute_qparams,
    dequantize,
    fake_quantize,
    qtype,
    quantize,
    sqnr,
    weight_qparams,
)
from netslim.quant.qtypes import expand

GRANULARITIES = [Granularity.per_tensor(), Granularity.per_channel(), Granularity.per_group(16)]


@pytest.mark.parametrize("name", sorted(QTYPES))
@pytest.mark.parametrize("granularity", GRANULARITIES, ids=str)
@pytest.mark.parametrize("symmetric", [True, False])
def test_round_trip_error_is_at_most_half_a_step(name: str, granularity: Granularity, symmetric: bool) -> None:
    qt = qtype(name)
    w = torch.randn(8, 32, 3) * torch.linspace(0.1, 2.0, 8).reshape(-1, 1, 1)
    if qt.kind is QKind.INT:
        q = weight_qparams(w, qt, granularity, symmetric)
        scale, zero_point = q.scale, q.zero_point
    else:  # ternary/binary: a range-based scale covering w, so every value is inside the grid
        shape = granularity.reduce_shape(w)
        amax = w.abs().reshape(*shape, -1).amax(-1) if shape else w.abs().max()
        scale, zero_point = compute_qparams(-amax, amax, qt)
    codes = quantize(w, scale, zero_point, qt)
    assert codes.dtype == qt.dtype
    assert int(codes.min()) >= qt.qmin and int(codes.max()) <= qt.qmax
    error = (dequantize(codes, scale, zero_point) - w).abs()
    bound = expand(scale, w) * qt.step / 2
    assert bool((error <= bound * (1 + 1e-5) + 1e-7).all()), f"max excess {float((error - bound).max())}"
    assert torch.equal(fake_quantize(w, scale, zero_point, qt), dequantize(codes, scale, zero_point))


@pytest.mark.parametrize(("name", "floor_db"), [("int8", 35.0), ("int4", 15.0)])
def test_per_channel_weight_sqnr_on_gaussian_weights(name: str, floor_db: float) -> None:
    w = torch.randn(64, 256)
    q = weight_qparams(w, name, Granularity.per_channel())
    assert sqnr(w, fake_quantize(w, q.scale, q.zero_point, name)) > floor_db


def test_finer_granularity_gives_higher_sqnr() -> None:
    w = torch.randn(32, 128) * (torch.rand(32, 1) + 0.05) * (torch.rand(1, 128) + 0.05)
    values = []
    for g in GRANULARITIES:
        q = weight_qparams(w, "int4", g)
        values.append(sqnr(w, fake_quantize(w, q.scale, q.zero_point, "int4")))
    assert values[0] < values[1] < values[2]


def test_ternary_follows_twn_and_binary_follows_xnor() -> None:
    w = torch.randn(4, 1000)
    t = weight_qparams(w, "ternary", Granularity.per_channel())
    assert t.threshold is not None
    torch.testing.assert_close(t.threshold, 0.7 * w.abs().mean(1))
    codes = quantize(w, t.scale, t.zero_point, "ternary", threshold=t.threshold)
    assert set(codes.unique().tolist()) == {-1, 0, 1}
    assert torch.equal(codes == 0, w.abs() <= t.threshold[:, None])
    b = weight_qparams(w, "binary", Granularity.per_channel())
    torch.testing.assert_close(b.scale, w.abs().mean(1))
    assert set(quantize(w, b.scale, b.zero_point, "binary").unique().tolist()) == {-1, 1}


def test_asymmetric_range_represents_zero_exactly() -> None:
    scale, zero_point = compute_qparams(torch.tensor(0.3), torch.tensor(5.0), "uint8", symmetric=False)
    zero = torch.zeros(3)
    assert torch.equal(dequantize(quantize(zero, scale, zero_point, "uint8"), scale, zero_point), zero)
    x = torch.linspace(-1.0, 2.0, 7)
    s, z = compute_qparams(x.min(), x.max(), "int8", symmetric=False)
    assert int(quantize(x, s, z, "int8").min()) == -128 and int(quantize(x, s, z, "int8").max()) == 127


@pytest.mark.parametrize("bad", [3, 0, 9, "int3", "float8"])
def test_invalid_bit_width_lists_valid_types(bad: object) -> None:
    with pytest.raises(ConfigError, match="int8") as info:
        qtype(bad, owner="QuantConfig.weights")  # type: ignore[arg-type]
    assert "QuantConfig.weights" in str(info.value) and "ternary" in str(info.value)


def test_group_size_must_divide_input_channels() -> None:
    with pytest.raises(ConfigError, match=r"fc1: group_size 16 does not divide its 40 input channels"):
        Granularity.per_group(16).reduce_shape(torch.zeros(8, 40), "fc1")


def test_granularity_parses_and_serializes() -> None:
    g = Granularity.parse("per_group:32")
    assert g == Granularity.per_group(32) and str(g) == "per_group:32"
    assert Granularity.from_dict(g.to_dict()) == g
    with pytest.raises(ConfigError, match="Granularity.group_size"):
        Granularity("per_group", 0)
    with pytest.raises(ConfigError, match="granularity"):
        Granularity.parse("per_row")
