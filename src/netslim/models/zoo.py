"""The model zoo: PyTorch versions of the seed document's models, Deep Compression's MNIST models, and two
structure stress tests (a residual/concat/depthwise CNN and a tiny transformer encoder).

Every builder takes ``input_shape`` (without the batch axis, e.g. ``(1, 28, 28)`` for MNIST or ``(1, 8, 8)`` for the
embedded digits) and ``num_classes``, so each model runs on both. Models return logits: the seed's final
``softmax`` is folded into the cross-entropy loss, as is usual in PyTorch.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from netslim.errors import ConfigError, ModelLoadError

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "hardswish": nn.Hardswish,
    "sigmoid": nn.Sigmoid,
}


@dataclass(frozen=True)
class ZooEntry:
    """A registered model: its builder, where it comes from, and training hints (e.g. the seed's L2 weight)."""

    name: str
    builder: Callable[..., nn.Module]
    defaults: dict[str, Any]
    source: str
    train_hints: dict[str, Any] = field(default_factory=dict)


_ZOO: dict[str, ZooEntry] = {}


def _register(
    name: str, builder: Callable[..., nn.Module], source: str, hints: dict[str, Any] | None = None, **defaults: Any
) -> None:
    _ZOO[name] = ZooEntry(name, builder, defaults, source, hints or {})


def make_activation(name: str) -> nn.Module:
    """Build an activation module by name (relu, tanh, gelu, silu, hardswish, sigmoid)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}") from None


def list_models() -> list[ZooEntry]:
    """All registered zoo models, in registration order."""
    return list(_ZOO.values())


def zoo_entry(name: str) -> ZooEntry:
    try:
        return _ZOO[name]
    except KeyError:
        raise ModelLoadError(f"unknown zoo model {name!r}; available: {', '.join(_ZOO)}") from None


def build_model(
    name: str, input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10, **overrides: Any
) -> nn.Module:
    """Build zoo model ``name`` for ``input_shape`` (C, H, W) or (F,) and ``num_classes``.

    The returned module carries ``netslim_arch`` (zoo name + arguments), which :func:`netslim.models.save_model`
    writes so that the model can be rebuilt without pickle.

    >>> model = build_model("seed_cnn", input_shape=(1, 8, 8))
    >>> model(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """
    entry = zoo_entry(name)
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s <= 0 for s in shape):
        raise ConfigError(f"input_shape must be positive sizes without the batch axis, got {tuple(input_shape)}")
    if num_classes < 2:
        raise ConfigError(f"num_classes must be >= 2, got {num_classes}")
    kwargs = {**entry.defaults, **overrides}
    model = entry.builder(input_shape=shape, num_classes=num_classes, **kwargs)
    from netslim.models.arch import Architecture

    arch = Architecture(zoo=name, input_shape=shape, num_classes=num_classes, kwargs=dict(overrides))
    setattr(model, "netslim_arch", arch)  # noqa: B010 - a plain attribute, not a submodule
    return model


def _image_shape(input_shape: Sequence[int], model: str) -> tuple[int, int, int]:
    if len(input_shape) == 2:
        return (1, int(input_shape[0]), int(input_shape[1]))
    if len(input_shape) != 3:
        raise ConfigError(f"{model} needs an image input_shape (C, H, W) or (H, W), got {tuple(input_shape)}")
    c, h, w = input_shape
    return int(c), int(h), int(w)


def conv_stack(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    widths: Sequence[int],
    kernel_size: int,
    padding: str,
    dense: Sequence[int],
    activation_name: str,
    conv_activation: bool = True,
    model: str = "cnn",
) -> nn.Sequential:
    """Keras-style ``Conv2D -> act -> MaxPool2D`` blocks, ``Flatten``, dense layers.

    The seed's layers use 'valid' padding on 28x28 input; when a feature map becomes smaller than the kernel (e.g. on
    8x8 digits) that conv switches to 'same' padding, and a 2x2 pool is skipped once the map is 1 pixel wide, so the
    same architecture runs on both input sizes.
    """
    if padding not in ("valid", "same"):
        raise ConfigError(f"{model}: padding must be 'valid' or 'same', got {padding!r}")
    channels, height, width = _image_shape(input_shape, model)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if len(input_shape) == 2:
        layers["unflatten"] = nn.Unflatten(1, (1, height, width))
    for i, out in enumerate(widths, start=1):
        same = padding == "same" or min(height, width) < kernel_size
        layers[f"conv{i}"] = nn.Conv2d(channels, out, kernel_size, padding="same" if same else 0)
        if not same:
            height, width = height - kernel_size + 1, width - kernel_size + 1
        if conv_activation:
            layers[f"act{i}"] = make_activation(activation_name)
        if min(height, width) >= 2:
            layers[f"pool{i}"] = nn.MaxPool2d(2)
            height, width = height // 2, width // 2
        channels = out
    layers["flatten"] = nn.Flatten()
    features = channels * height * width
    n_conv = len(widths)
    for j, units in enumerate(dense, start=1):
        layers[f"fc{j}"] = nn.Linear(features, units)
        layers[f"act{n_conv + j}"] = make_activation(activation_name)
        features = units
    layers[f"fc{len(dense) + 1}"] = nn.Linear(features, num_classes)
    return nn.Sequential(layers)


def seed_cnn(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    widths: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    padding: str = "valid",
    dense: int = 128,
    activation: str = "relu",
) -> nn.Sequential:
    """The seed's CNN (section 4.1.3): Conv(32,3x3)-Pool-Conv(64,3x3)-Pool-Flatten-Dense(128)-Dense(classes)."""
    return conv_stack(
        input_shape,
        num_classes,
        widths=widths,
        kernel_size=kernel_size,
        padding=padding,
        dense=(dense,),
        activation_name=activation,
        model="seed_cnn",
    )


def seed_mlp(
    input_shape: Sequence[int], num_classes: int, *, hidden: Sequence[int] | int = 128, activation: str = "relu"
) -> nn.Sequential:
    """The seed's dense model (sections 4.2-4.4): Flatten-Dense(128, relu)-Dense(classes)."""
    sizes = [hidden] if isinstance(hidden, int) else list(hidden)
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    features = math.prod(input_shape)
    for i, units in enumerate(sizes, start=1):
        layers[f"fc{i}"] = nn.Linear(features, units)
        layers[f"act{i}"] = make_activation(activation)
        features = units
    layers[f"fc{len(sizes) + 1}"] = nn.Linear(features, num_classes)
    return nn.Sequential(layers)


def bn_mlp(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    hidden: Sequence[int] | int = (1024, 1024, 1024),
    activation: str = "relu",
    output_norm: bool = True,
) -> nn.Sequential:
    """BinaryConnect's MNIST MLP (Courbariaux et al. 2015): Flatten, then ``Linear -> BatchNorm1d -> act`` per hidden
    layer and a final ``Linear -> BatchNorm1d`` (``output_norm``). The linear layers have no bias (BatchNorm's shift
    replaces it), so every weight can be binarized while the normalizations stay in float."""
    sizes = [hidden] if isinstance(hidden, int) else list(hidden)
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    features = math.prod(input_shape)
    for i, units in enumerate(sizes, start=1):
        layers[f"fc{i}"] = nn.Linear(features, units, bias=False)
        layers[f"bn{i}"] = nn.BatchNorm1d(units)
        layers[f"act{i}"] = make_activation(activation)
        features = units
    last = len(sizes) + 1
    layers[f"fc{last}"] = nn.Linear(features, num_classes, bias=not output_norm)
    if output_norm:
        layers[f"bn{last}"] = nn.BatchNorm1d(num_classes)
    return nn.Sequential(layers)


def lenet5(input_shape: Sequence[int], num_classes: int) -> nn.Sequential:
    """Caffe's LeNet-5 as used by Deep Compression (431K parameters on MNIST): no activation after the convs."""
    return conv_stack(
        input_shape,
        num_classes,
        widths=(20, 50),
        kernel_size=5,
        padding="valid",
        dense=(500,),
        activation_name="relu",
        conv_activation=False,
        model="lenet_5",
    )


class ResidualBlock(nn.Module):
    """conv-bn-relu-conv-bn plus identity, then relu (a residual add)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.act2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act2(x + self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x))))))


class SplitConcatBlock(nn.Module):
    """Two branches concatenated on channels: a 1x1 conv, and a depthwise 3x3 + pointwise 1x1 (MobileNet style)."""

    def __init__(self, channels: int, branch: int) -> None:
        super().__init__()
        self.pointwise = nn.Conv2d(channels, branch, 1, bias=False)
        self.bn_a = nn.BatchNorm2d(branch)
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.bn_dw = nn.BatchNorm2d(channels)
        self.project = nn.Conv2d(channels, branch, 1, bias=False)
        self.bn_b = nn.BatchNorm2d(branch)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act(self.bn_a(self.pointwise(x)))
        b = self.act(self.bn_b(self.project(self.act(self.bn_dw(self.depthwise(x))))))
        return torch.cat([a, b], dim=1)


class ResCNN(nn.Module):
    """A small CNN with a residual add, a channel concat and a depthwise conv: a stress test for structure tools."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, width: int = 16) -> None:
        super().__init__()
        channels, _, _ = _image_shape(input_shape, "res_cnn")
        self.stem = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.block1 = ResidualBlock(width)
        self.mix = SplitConcatBlock(width, width)
        self.down = nn.Sequential(
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU()
        )
        self.block2 = ResidualBlock(2 * width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block2(self.down(self.mix(self.block1(self.stem(x)))))
        return self.fc(self.flatten(self.pool(x)))


def _patch_size(height: int, width: int) -> int:
    for p in (7, 4, 2, 1):
        if height % p == 0 and width % p == 0 and (height // p) * (width // p) >= 16:
            return p
    return 1


class TinyTransformer(nn.Module):
    """A ViT-style encoder classifier for images (patch embedding) or token ids (``vocab_size`` set).

    Uses ``nn.TransformerEncoderLayer`` (``nn.MultiheadAttention`` + FFN), mean pooling and a linear head.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        ffn: int = 128,
        vocab_size: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"tiny_transformer: dim ({dim}) must be divisible by heads ({heads})")
        self.vocab_size = vocab_size
        if vocab_size is not None:
            tokens = int(input_shape[0])
            self.embed: nn.Module = nn.Embedding(vocab_size, dim)
        else:
            channels, height, width = _image_shape(input_shape, "tiny_transformer")
            patch = _patch_size(height, width)
            tokens = (height // patch) * (width // patch)
            self.embed = nn.Conv2d(channels, dim, patch, stride=patch)
        self.pos = nn.Parameter(torch.zeros(1, tokens, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, ffn, dropout=dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x)
        if self.vocab_size is None:  # patch embedding: (B, dim, h, w) -> (B, h*w, dim)
            tokens = tokens.flatten(2).transpose(1, 2)
        x = self.encoder(tokens + self.pos)
        return self.head(self.norm(x).mean(dim=1))


_SEED = "seed document"
_register("seed_cnn", seed_cnn, f"{_SEED} 4.1.3 (original; 4.1.1/4.1.2 originals are its first layer)")
_register("seed_cnn_same", seed_cnn, f"{_SEED} 4.1.1 optimized: padding='same'", padding="same")
_register("seed_cnn_k5", seed_cnn, f"{_SEED} 4.1.2 optimized: 5x5 kernels", kernel_size=5)
_register("seed_cnn_deep", seed_cnn, f"{_SEED} 4.1.3 optimized: a third Conv(128)", widths=(32, 64, 128))
_register("seed_mlp", seed_mlp, f"{_SEED} 4.2.1 original, 4.3 (Dense 128 relu)")
_register("seed_mlp_64", seed_mlp, f"{_SEED} 4.2.1 optimized: 64 nodes", hidden=64)
_register("seed_mlp_tanh", seed_mlp, f"{_SEED} 4.2.2 optimized: tanh", activation="tanh")
_register(
    "seed_mlp_l2",
    seed_mlp,
    f"{_SEED} 4.2.3 optimized: L2(0.001) kernel regularizer",
    hints={"l2": 1e-3, "regularize_layers": ("fc1",)},
)
_register("lenet_300_100", seed_mlp, "Deep Compression (Han et al. 2016): LeNet-300-100", hidden=(300, 100))
_register("lenet_5", lenet5, "Deep Compression (Han et al. 2016): Caffe LeNet-5")
_register("binary_mlp", bn_mlp, "BinaryConnect (Courbariaux et al. 2015): 3x1024 MLP with BatchNorm after each layer")
_register("res_cnn", ResCNN, "netslim: residual add + concat + depthwise conv (structure stress test)")
_register("tiny_transformer", TinyTransformer, "netslim: ViT-style encoder with nn.MultiheadAttention")
