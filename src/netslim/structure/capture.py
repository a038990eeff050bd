"""Graph capture with ``torch.export.export(..., strict=False)``.

Why not ``torch.fx.symbolic_trace``: symbolic tracing runs ``forward`` on proxies, so any Python control flow on
shapes, any ``len(tensor)``, any call into C++ without a proxy path fails; the design note measured it failing on
every Hugging Face model tried (BERT, ViT, ResNet, ...), while non-strict ``torch.export`` captured all of them.
Non-strict export runs the real Python ``forward`` on fake tensors, records ATen ops with concrete shapes in
``node.meta["val"]``, records the owning module of each op in ``node.meta["nn_module_stack"]``, and lifts parameters
to placeholders whose fully qualified names ``graph_signature.inputs_to_parameters`` gives: that is how a conv op is
mapped back to the ``nn.Conv2d`` that owns its weight, even when the module calls ``F.conv2d`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import fx, nn

from netslim.errors import TraceError


@dataclass(frozen=True)
class Capture:
    """An exported ATen graph plus the placeholder -> parameter/buffer name maps."""

    graph: fx.Graph
    parameters: dict[str, str]  # placeholder name -> fully qualified parameter name ("stem.0.weight")
    buffers: dict[str, str]
    user_inputs: frozenset[str]

    def tensor_name(self, node: object) -> str | None:
        """The parameter/buffer FQN a placeholder node stands for, or None."""
        if not isinstance(node, fx.Node) or node.op != "placeholder":
            return None
        return self.parameters.get(node.name) or self.buffers.get(node.name)


def capture(model: nn.Module, example: torch.Tensor) -> Capture:
    """Export ``model`` on ``example`` (in eval mode; the training flag is restored).

    Raises TraceError naming the model class and the underlying reason when the model cannot be exported,
    e.g. a ``forward`` whose Python control flow depends on tensor values.
    """
    was_training = model.training
    model.eval()
    # Hugging Face decoders return a key/value cache object that torch.export cannot flatten; the cache plays no
    # part in the structure, so capture with it switched off
    config = getattr(model, "config", None)
    use_cache = getattr(config, "use_cache", None)
    if use_cache:
        config.use_cache = False  # type: ignore[union-attr]
    try:
        program = torch.export.export(model, (example,), strict=False)
    except Exception as exc:  # torch raises many unrelated types here; all mean "cannot capture"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TraceError(
            f"cannot capture {type(model).__name__} with torch.export (strict=False): {type(exc).__name__}: "
            f"{reason[:300]}. Structure analysis needs a forward without Python control flow on tensor values; "
            "rewrite that branch with torch.where/torch.cond or move it out of forward()"
        ) from exc
    finally:
        model.train(was_training)
        if use_cache:
            config.use_cache = use_cache  # type: ignore[union-attr]
    sig = program.graph_signature
    return Capture(
        graph=program.graph,
        parameters=dict(sig.inputs_to_parameters),
        buffers=dict(sig.inputs_to_buffers),
        user_inputs=frozenset(sig.user_inputs),
    )


def owner(fqn: str) -> tuple[str, str]:
    """Split ``"stem.0.weight"`` into the module path ``"stem.0"`` and the attribute ``"weight"``."""
    module, _, attr = fqn.rpartition(".")
    return module, attr


def scope(node: fx.Node) -> str:
    """The innermost module path that ran ``node`` (``"block1"``), or ``"<model>"`` at the top level."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "<model>"
    path = list(stack.values())[-1][0]
    return path or "<model>"
