"""The exported graph: exactly what ``translate_any_size`` computes for one target, as a plain ``nn.Module``.

:func:`export_graph` wraps the network inference uses (:meth:`~lit_translate.methods.TranslationModule.
inference_generator`: the EMA copy where the method infers with it) with the method's own ``generate`` (its label,
one-hot or clamp steps), the reflect padding to ``size_divisor`` and the crop back, so any batch, height and
width work. Inputs: the image (float ``(N, C, H, W)`` in [-1, 1]) or the label map (int64 ``(N, 1, H, W)`` class
ids: the one-hot is built inside), plus ``label`` ``(N, label_dim)`` for a label-conditioned method without a
fixed ``--target`` and ``z`` ``(N, latent_dim)`` for a multimodal one; a method without an input image
(an unconditional GAN: ``input_kind`` ``"none"``) takes ``z`` only.

Inference mode ``"train"`` (pix2pix recipes: dropout and batch statistics at test time) is exported with batch
statistics of the input batch itself (:class:`BatchStatsNorm`) and dropout off: a graph cannot reproduce random
dropout, so :func:`export_graph` warns when the network has dropout.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.spectral_norm import SpectralNorm

from lit_translate.errors import InputError
from lit_translate.methods.base import INFERENCE_MODES, TranslationModule
from lit_translate.methods.types import InferenceMode


class BatchStatsNorm(nn.Module):
    """A norm layer that always normalises by the statistics of its input (train-mode behaviour).

    Batch norm: over the batch and the spatial dimensions; instance norm (``instance=True``): per image. Unlike
    the torch layers in train mode it updates no running statistics, so a graph of it is a pure function.
    """

    def __init__(self, norm: nn.Module, instance: bool = False) -> None:
        super().__init__()
        self.eps, self.instance = float(norm.eps), instance
        self.weight = None if norm.weight is None else nn.Parameter(norm.weight.detach().clone())
        self.bias = None if norm.bias is None else nn.Parameter(norm.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` ``(N, C, ...)`` per channel by its own statistics."""
        if self.instance:
            return F.instance_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        dims = [0, *range(2, x.ndim)]  # written out: the ONNX exporter has no batch_norm training for any batch
        mean = x.mean(dim=dims, keepdim=True)
        var = (x - mean).square().mean(dim=dims, keepdim=True)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        shape = [1, -1] + [1] * (x.ndim - 2)
        if self.weight is not None:
            y = y * self.weight.view(shape)
        return y + self.bias.view(shape) if self.bias is not None else y


class RunningStatsNorm(nn.Module):
    """An instance norm that tracks running statistics, in eval mode: ``(x - mean) / sqrt(var + eps)`` per channel."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.eps = float(norm.eps)
        self.register_buffer("mean", norm.running_mean.detach().clone())
        self.register_buffer("var", norm.running_var.detach().clone())
        self.weight = None if norm.weight is None else nn.Parameter(norm.weight.detach().clone())
        self.bias = None if norm.bias is None else nn.Parameter(norm.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` by the stored statistics (what ``InstanceNorm2d(track_running_stats=True).eval()`` does)."""
        return F.batch_norm(x, self.mean, self.var, self.weight, self.bias, False, 0.0, self.eps)


def declared_mode(net: nn.Module, train: bool = True) -> nn.Module:
    """Return ``net`` (modified in place) in eval mode with its norm layers made graph-friendly.

    ``train``: every batch norm and every instance norm with running statistics normalises by its input's
    statistics (:class:`BatchStatsNorm`); else instance norms with running statistics use them
    (:class:`RunningStatsNorm`).
    """
    for name, child in list(net.named_children()):
        tracked = isinstance(child, nn.modules.instancenorm._InstanceNorm) and child.track_running_stats
        if train and isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(net, name, BatchStatsNorm(child))
        elif tracked:
            setattr(net, name, BatchStatsNorm(child, instance=True) if train else RunningStatsNorm(child))
        else:
            declared_mode(child, train)
    return net.eval()


def fold_spectral_norm(net: nn.Module) -> nn.Module:
    """Replace every spectral norm of ``net`` (in eval mode: no power iteration) by the weight it gives now."""
    for module in net.modules():
        if parametrize.is_parametrized(module):  # not remove_parametrizations: it edits the class deep copies share
            with torch.no_grad():
                values = {name: getattr(module, name).detach().clone() for name in module.parametrizations}
            module.__class__ = module.__class__.__bases__[0]
            del module._modules["parametrizations"]
            for name, value in values.items():
                module.register_parameter(name, nn.Parameter(value, requires_grad=False))
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, SpectralNorm):
                nn.utils.remove_spectral_norm(module, hook.name)
    return net


def has_dropout(net: nn.Module) -> bool:
    """Return whether ``net`` holds a dropout layer with a non-zero probability."""
    return any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in net.modules())


@dataclass
class GraphSpec:
    """What the exported graph takes and gives (written into the exported file's metadata)."""

    inputs: list[str]
    example: tuple[Tensor, ...]
    metadata: dict[str, Any] = field(default_factory=dict)


class ExportGraph(nn.Module):
    """``translate_any_size(x, target[, z])`` of one method and target as a module (see the module docstring).

    Args:
        method: the trained method (only its ``generate`` is called; it is not a submodule).
        net: the network to run (a copy of the inference generator, in the export's mode).
        target: the fixed target, or None when the graph takes a ``label`` input.
        divisor: the generator's ``size_divisor``.
        scale: the output's size over the input's.
        latent: whether the graph takes ``z``.
    """

    def __init__(
        self, method: TranslationModule, net: nn.Module, target: Any, divisor: int, scale: int, latent: bool
    ) -> None:
        super().__init__()
        self.net = net
        object.__setattr__(self, "method", method)  # not registered: the graph holds only ``net``'s weights
        self.target, self.divisor, self.scale, self.latent = target, divisor, scale, latent
        self.exact_pad = False  # True while torch.export traces it (see forward)

    def forward(self, *inputs: Tensor) -> Tensor:
        """Pad ``x`` to ``size_divisor`` (reflect), run the method's ``generate``, crop back (see the module doc)."""
        if not self.method.image_input:  # a generator of codes alone: G(z), nothing to pad
            return self.method.generate(self.net, None, self.target, z=inputs[0])
        x, rest = inputs[0], list(inputs[1:])
        target = self.target if self.target is not None else rest.pop(0)
        codes = {"z": rest.pop(0)} if self.latent else {}
        h, w = x.shape[-2], x.shape[-1]
        d = self.divisor
        if d == 1:  # cropped as translate_any_size does (a net whose size is fixed, SPADE's, gives more)
            out = self.method.generate(self.net, x, target, **codes)
        elif self.exact_pad:  # torch.export: pad amounts and crops as symbolic sizes, no data-dependent branch
            x = _reflect_gather(_reflect_gather(x, 2, h, (h + d - 1) // d * d), 3, w, (w + d - 1) // d * d)
            out = self.method.generate(self.net, x, target, **codes)
            return out.narrow(2, 0, h * self.scale).narrow(3, 0, w * self.scale)
        else:  # tracing (ONNX, TorchScript): pad by d - 1 then cut to the next multiple; the rows kept are the same
            x = _reflect_pad(x, d - 1, d - 1)[..., : (h + d - 1) // d * d, : (w + d - 1) // d * d]
            out = self.method.generate(self.net, x, target, **codes)
        return out[..., : h * self.scale, : w * self.scale]


def _reflect_gather(x: Tensor, dim: int, size: Any, padded: Any) -> Tensor:
    """Reflect-pad ``x`` along ``dim`` from ``size`` to ``padded`` by indexing (no size-dependent branch)."""
    index = torch.arange(padded, device=x.device)
    index = torch.where(index < size, index, 2 * (size - 1) - index)
    return x.index_select(dim, index)


def _reflect_pad(x: Tensor, right: Any, bottom: Any) -> Tensor:
    """Reflect-pad the right and bottom of ``x`` (an integer label map through float: exact ids)."""
    if x.is_floating_point():
        return F.pad(x, (0, right, 0, bottom), mode="reflect")
    return F.pad(x.float(), (0, right, 0, bottom), mode="reflect").to(x.dtype)


def export_graph(
    method: TranslationModule, target: str | None = None, inference_mode: InferenceMode | None = None
) -> tuple[ExportGraph, GraphSpec]:
    """Return the graph of ``method.translate_any_size`` for ``target`` and what it takes (see the module doc).

    Args:
        method: a trained method (set up, e.g. loaded from a checkpoint).
        target: a name of ``method.targets``; None: the first one, or, for a label-conditioned method (StarGAN),
            a ``label`` input.
        inference_mode: ``"eval"`` or ``"train"``; None: the method's declared ``inference_mode``.

    Raises:
        InputError: an unknown target or inference mode.
    """
    mode = inference_mode or method.inference_mode
    if mode not in INFERENCE_MODES:
        raise InputError(f"--inference_mode must be one of {INFERENCE_MODES}, not {mode!r}")
    labelled = hasattr(method, "target_labels")
    if target is not None and target not in method.targets:
        raise InputError(f"--target {target!r} is not a target of {type(method).__name__}: {method.targets}")
    name = target if target is not None or labelled else method.resolve_target(None)
    generator = method.inference_generator(name if name is not None else method.targets[0])
    net = copy.deepcopy(generator).float()
    if mode == "train":
        if has_dropout(net):
            warnings.warn(
                f"{type(method).__name__} infers in train mode with dropout: the exported graph has dropout off "
                f"(batch statistics of the input kept); export with --inference_mode eval for the eval-mode model",
                stacklevel=2,
            )
    fold_spectral_norm(declared_mode(net, train=mode == "train"))
    for p in net.parameters():
        p.requires_grad_(False)
    divisor = int(getattr(generator, "size_divisor", 1))
    scale = int(getattr(generator, "scale", 1))
    fixed = _fixed_target(method, name) if labelled and name is not None else name
    graph = ExportGraph(method, net, fixed, divisor, scale, method.latent_dim is not None)
    spec = _spec(method, graph, name, mode, labelled)
    return graph, spec


def _fixed_target(method: Any, name: str) -> Any:
    """Return the label tensor of a label-conditioned method's target ``name`` (a domain: no classifier needed)."""
    space = method.space
    if name in space.attributes:
        raise InputError(
            f"StarGAN's attribute target {name!r} depends on the input's own attributes (its classifier): export "
            f"without --target, the graph then takes the label (N, {space.label_dim}) as an input"
        )
    return space.target_label(name, None, 1, torch.zeros(1, 3, 8, 8))[0].float()


def _spec(method: TranslationModule, graph: ExportGraph, name: Any, mode: str, labelled: bool) -> GraphSpec:
    """Return the input names, an example input and the metadata of ``graph``."""
    label_nc = getattr(method, "label_nc", None)
    size = max(2 * graph.divisor, 16)  # never 1 pixel deep in a U-Net (torch.export would specialise it)
    extra: list[Tensor] = []
    image: dict[str, str] = {}
    if name is None and labelled:
        dim = int(method.space.label_dim)
        extra.append(torch.zeros(2, dim))
        image["label"] = f"float32 target label (N, {dim}) (StarGAN: the domain one-hot / attribute vector)"
    if graph.latent:
        extra.append(torch.randn(2, int(method.latent_dim)))
        image["z"] = f"float32 latent code (N, {method.latent_dim}) ~ N(0, I)"
    if not method.image_input:
        x = None
    elif label_nc is not None:
        x = torch.randint(0, int(label_nc), (2, 1, size, size))
        image["x"] = "int64 label map (N, 1, H, W), class ids 0..label_nc-1 (one-hot built inside)"
    else:
        channels = _in_channels(graph, size, extra)
        x = torch.rand(2, channels, size, size) * 2 - 1
        image["x"] = f"float32 image (N, {channels}, H, W) in [-1, 1] (uint8 / 127.5 - 1)"
    inputs = (
        (["x"] if x is not None else []) + (["label"] if "label" in image else []) + (["z"] if graph.latent else [])
    )
    example = [x, *extra] if x is not None else extra
    metadata = {
        "method": type(method).__name__,
        "target": name,
        "targets": list(method.targets),
        "inputs": image,
        "output": "float32 image (N, C, H*scale, W*scale) in [-1, 1] ((y + 1) * 127.5 -> uint8)",
        "size_divisor": graph.divisor,
        "scale": graph.scale,
        "inference_mode": mode,
        "inference_mode_note": _mode_note(mode, graph.net),
        "ema": method.averaged_copy(method.generator_for(method.targets[0] if name is None else name)) is not None,
        "min_size": graph.divisor,
    }
    if label_nc is not None:
        metadata["label_nc"] = int(label_nc)
    return GraphSpec(inputs, tuple(example), metadata)


def _mode_note(mode: str, net: nn.Module) -> str:
    if mode == "eval":
        return "eval: dropout off, batch norm running statistics"
    return "train (declared): batch norm uses the statistics of the input batch; dropout off (a graph is deterministic)"


def _in_channels(graph: ExportGraph, size: int, extra: list[Tensor]) -> int:
    """Return the image channels ``graph`` takes: its first convolution's, less a label's or code's if concatenated."""
    first = next((m for m in graph.net.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise InputError(f"cannot tell the input channels of {type(graph.net).__name__}")
    for channels in sorted({first.in_channels - t.shape[1] for t in extra} | {first.in_channels}, reverse=True):
        try:
            with torch.no_grad():
                graph(torch.zeros(2, channels, size, size), *extra)
        except (RuntimeError, ValueError):
            continue
        return int(channels)
    raise InputError(f"cannot tell the input channels of {type(graph.net).__name__}")


__all__ = [
    "BatchStatsNorm",
    "ExportGraph",
    "GraphSpec",
    "RunningStatsNorm",
    "declared_mode",
    "export_graph",
    "fold_spectral_norm",
    "has_dropout",
]
