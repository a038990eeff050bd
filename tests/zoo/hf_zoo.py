"""Real Hugging Face architectures built offline from small configs with random weights (no download).

Each entry: name -> (model class name, config class name, config kwargs, input kind). Inputs are one positional
tensor: ``pixel_values`` (2, 3, 32, 32) for vision models, ``input_ids`` (2, 16) for text models.
"""

from __future__ import annotations

from typing import Any

import torch

VISION = (2, 3, 32, 32)
TEXT = (2, 16)

_TEXT_SMALL = dict(
    vocab_size=128,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=64,
    num_labels=3,
)
_VIT_SMALL = dict(
    image_size=32,
    patch_size=8,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    num_labels=3,
)

HF_MODELS: dict[str, tuple[str, str, dict[str, Any], tuple[int, ...]]] = {
    "resnet": (
        "ResNetForImageClassification",
        "ResNetConfig",
        dict(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic", num_labels=3),
        VISION,
    ),
    "resnet-bottleneck": (
        "ResNetForImageClassification",
        "ResNetConfig",
        dict(embedding_size=16, hidden_sizes=[32, 64], depths=[1, 1], layer_type="bottleneck", num_labels=3),
        VISION,
    ),
    "convnext": (
        "ConvNextForImageClassification",
        "ConvNextConfig",
        dict(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2, num_labels=3),
        VISION,
    ),
    "convnextv2": (
        "ConvNextV2ForImageClassification",
        "ConvNextV2Config",
        dict(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2, num_labels=3),
        VISION,
    ),
    "mobilenet_v1": (
        "MobileNetV1ForImageClassification",
        "MobileNetV1Config",
        dict(depth_multiplier=0.25, image_size=32, num_labels=3),
        VISION,
    ),
    "mobilenet_v2": (
        "MobileNetV2ForImageClassification",
        "MobileNetV2Config",
        dict(depth_multiplier=0.35, image_size=32, num_labels=3),
        VISION,
    ),
    "efficientnet": (
        "EfficientNetForImageClassification",
        "EfficientNetConfig",
        dict(width_coefficient=0.25, depth_coefficient=0.25, image_size=32, hidden_dim=320, num_labels=3),
        VISION,
    ),
    "regnet": (
        "RegNetForImageClassification",
        "RegNetConfig",
        dict(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], groups_width=8, num_labels=3),
        VISION,
    ),
    "vit": ("ViTForImageClassification", "ViTConfig", _VIT_SMALL, VISION),
    "deit": ("DeiTForImageClassification", "DeiTConfig", _VIT_SMALL, VISION),
    "beit": ("BeitForImageClassification", "BeitConfig", {**_VIT_SMALL, "use_mean_pooling": True}, VISION),
    "dinov2": ("Dinov2ForImageClassification", "Dinov2Config", _VIT_SMALL, VISION),
    "swin": (
        "SwinForImageClassification",
        "SwinConfig",
        dict(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 4], window_size=4, num_labels=3),
        VISION,
    ),
    "bit": (
        "BitForImageClassification",
        "BitConfig",
        dict(embedding_size=16, hidden_sizes=[32, 64], depths=[1, 1], num_groups=8, num_labels=3),
        VISION,
    ),
    "poolformer": (
        "PoolFormerForImageClassification",
        "PoolFormerConfig",
        dict(
            hidden_sizes=[16, 32],
            depths=[1, 1],
            num_encoder_blocks=2,
            patch_sizes=[4, 2],
            strides=[4, 2],
            padding=[1, 0],
            num_labels=3,
        ),
        VISION,
    ),
    "bert": ("BertForSequenceClassification", "BertConfig", _TEXT_SMALL, TEXT),
    "distilbert": (
        "DistilBertForSequenceClassification",
        "DistilBertConfig",
        dict(vocab_size=128, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64, num_labels=3),
        TEXT,
    ),
    "roberta": ("RobertaForSequenceClassification", "RobertaConfig", {**_TEXT_SMALL, "pad_token_id": 1}, TEXT),
    "albert": ("AlbertForSequenceClassification", "AlbertConfig", {**_TEXT_SMALL, "embedding_size": 16}, TEXT),
    "electra": ("ElectraForSequenceClassification", "ElectraConfig", {**_TEXT_SMALL, "embedding_size": 16}, TEXT),
    "xlm-roberta": (
        "XLMRobertaForSequenceClassification",
        "XLMRobertaConfig",
        {**_TEXT_SMALL, "pad_token_id": 1},
        TEXT,
    ),
    "mpnet": ("MPNetForSequenceClassification", "MPNetConfig", _TEXT_SMALL, TEXT),
    "gpt2": (
        "GPT2ForSequenceClassification",
        "GPT2Config",
        dict(
            vocab_size=128,
            n_embd=32,
            n_layer=2,
            n_head=4,
            n_positions=64,
            num_labels=3,
            pad_token_id=0,
            bos_token_id=0,
            eos_token_id=0,
        ),
        TEXT,
    ),
}


def build(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    """Build the model (eval mode, seeded random weights) and an example input."""
    import transformers

    model_cls, config_cls, kwargs, shape = HF_MODELS[name]
    torch.manual_seed(0)
    config = getattr(transformers, config_cls)(**kwargs)
    model = getattr(transformers, model_cls)(config).eval()
    example = torch.randint(2, 128, shape) if shape == TEXT else torch.rand(shape)
    return model, example


def logits(output: object) -> torch.Tensor:
    """The logits tensor of a transformers ModelOutput, or the tensor itself."""
    return output if isinstance(output, torch.Tensor) else output.logits  # type: ignore[attr-defined]
