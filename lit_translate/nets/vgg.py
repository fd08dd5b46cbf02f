"""Frozen VGG loss network for perceptual losses (Johnson et al. 2016; also SRGAN-style VGG losses).

``VGGFeatures`` is torchvision's VGG-16 or VGG-19 ``features`` stack, cut right after the deepest requested tap.
Its layers are named as in the papers (``conv1_1``, ``relu1_1``, ..., ``pool1``, ...): torchvision's index ``i`` in
``features`` is position ``i`` of :func:`vgg_layer_names`, so ``relu2_2`` is ``features[8]`` of VGG-16 (the
pytorch/examples ``fast_neural_style`` slices end at 3, 8, 15, 22 = relu1_2, relu2_2, relu3_3, relu4_3) and
``conv5_4`` is ``features[34]`` of VGG-19 (BasicSR's ESRGAN loss).

The network is a fixed function, never a trained or saved part of a model: every weight is a non-persistent
buffer (see :class:`VGGFeatures`).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from lit_translate.choices import check_choice
from lit_translate.weights import WEIGHTS, resolve_weights

# Convolutions per block (torchvision cfg "D" = VGG-16, "E" = VGG-19) and each block's width; a 2x2 max-pool
# ends every block.
_BLOCKS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_WIDTHS = (64, 128, 256, 512, 512)

RANDOM_WEIGHTS = "random"
"""The ``weights`` / ``--model.init_args.vgg_weights`` value that builds a random-weight stand-in (CPU demos, tests)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg_layer_names(arch: Literal["vgg16", "vgg19"]) -> tuple[str, ...]:
    """Return the paper names of torchvision's ``vgg16().features`` / ``vgg19().features``, in index order.

    Args:
        arch: ``"vgg16"`` (31 layers, up to ``pool5``) or ``"vgg19"`` (37 layers).

    Returns:
        ``("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1", ...)``.
    """
    names: list[str] = []
    for block, convs in enumerate(_BLOCKS[check_choice("arch", arch, _BLOCKS)], start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


def vgg_conv_shapes(arch: Literal["vgg16", "vgg19"]) -> list[tuple[int, int]]:
    """Return ``(in_channels, out_channels)`` of each 3x3 convolution of ``arch``, in order (13 or 16 of them)."""
    shapes, channels = [], 3
    for convs, width in zip(_BLOCKS[check_choice("arch", arch, _BLOCKS)], _WIDTHS):
        for _ in range(convs):
            shapes.append((channels, width))
            channels = width
    return shapes


def _load_features_state(path: Path, arch: str, depth: int) -> dict[str, Tensor]:
    """Read the ``features.<i>.weight/bias`` tensors of the first ``depth`` layers from a torchvision state dict."""
    spec = WEIGHTS[arch]
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"{path} is not a readable torchvision {arch} state dict ({error})") from error
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a torchvision {arch} state dict")
    expected: dict[str, tuple[int, ...]] = {}
    convs = iter(vgg_conv_shapes(arch))
    for index, name in enumerate(vgg_layer_names(arch)[:depth]):
        if name.startswith("conv"):
            c_in, c_out = next(convs)
            expected[f"features.{index}.weight"] = (c_out, c_in, 3, 3)
            expected[f"features.{index}.bias"] = (c_out,)
    missing = [key for key in expected if key not in state]
    wrong = [f"{k} {tuple(state[k].shape)} != {v}" for k, v in expected.items() if k in state and state[k].shape != v]
    if missing or wrong:
        problems = "; ".join(filter(None, [f"missing {', '.join(missing)}" if missing else "", "; ".join(wrong)]))
        raise ValueError(
            f"{path} is not a torchvision {arch} state dict ({problems}). Expected the layout of {spec.filename} "
            f"(keys features.<i>.weight/bias), from {spec.url}."
        )
    return {key: state[key].detach().to(torch.float32).clone() for key in expected}


class VGGFeatures(nn.Module):
    """Frozen torchvision VGG ``features``, returning the activations at named layers (the "loss network" phi).

    Input convention: images in [-1, 1]. The module maps them to [0, 1] and applies the ImageNet mean/std itself
    (out of place), which is exactly pytorch/examples' ``normalize_batch`` applied to the same image in 0-255.

    Frozen, in four ways:

    * every weight is a **non-persistent buffer**: not in ``parameters()`` (so no optimizer, no gradient, no DDP
      gradient all-reduce), not in ``state_dict()`` (checkpoints stay small and never carry VGG), yet it follows
      ``.to()``/``.cuda()``/``.double()`` of a parent module;
    * always in eval mode: ``train(True)`` leaves it in eval (VGG ``features`` has no BN or dropout, so this only
      matters for clarity and for the ``training`` flag);
    * at least float32: ``forward`` disables autocast and casts the input to the buffers' dtype, and dtype
      conversions of a parent to float16/bfloat16 (``.half()``, Lightning "16-true") are undone for these
      buffers (float64 is kept), so the loss network never runs in reduced precision;
    * gradients still flow to the *input* (the transform network is trained through it).

    DDP: DDP's ``broadcast_buffers`` (on by default) would copy these buffers from rank 0 on every forward (tens of
    MB per step), and its start-up sync would copy them once. They are identical on every rank already, so list
    them as ignored before wrapping: ``DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model,
    frozen_buffer_names(model))`` (:func:`frozen_buffer_names` collects the fully qualified names of every
    ``VGGFeatures`` buffer under ``model``). Code that broadcasts or averages buffers itself should skip the same
    names. ``frozen_buffers`` holds this module's own buffer names.

    Args:
        arch: ``"vgg16"`` (Johnson et al., LPIPS) or ``"vgg19"`` (SRGAN/ESRGAN). Default ``"vgg16"``.
        layers: The taps, by paper name (``"relu2_2"``, ``"conv5_4"``, ``"pool3"``, ...), returned in this order;
            a single string is one tap. Default ``("relu2_2",)`` (Johnson's content/feature layer).
        weights: A local torchvision state dict of ``arch`` (``features.<i>.weight/bias``; classifier keys are
            ignored). None: the torch.hub cache, then a download (see :func:`lit_translate.weights.resolve_weights`;
            offline it raises ``WeightsUnavailableError``). ``"random"`` (:data:`RANDOM_WEIGHTS`): the calibrated
            random stand-in :func:`lit_translate.standins.random_vgg_state` (``arch``, seed 0), built in memory,
            identical in every process, with a ``UserWarning``: for CPU demos and tests only, its features mean
            nothing. Default None.

    Attributes:
        arch: As given.
        layers: The requested taps, a tuple.
        weights_path: The resolved weight file (reports record it); None for the ``"random"`` stand-in.
        features: ``nn.Sequential`` of the layers up to the deepest tap, named ``conv1_1``, ``relu1_1``, ...
        frozen_buffers: Names of this module's buffers, relative to it.

    Raises:
        ValueError: ``arch`` or a layer name is unknown (the message lists the valid names), ``layers`` is empty or
            repeats a name, or the file is not a torchvision ``arch`` state dict (the message names the file).
        FileNotFoundError: ``weights`` does not exist.
        WeightsUnavailableError: ``weights`` is None, the file is not cached and cannot be downloaded.
    """

    def __init__(
        self,
        arch: Literal["vgg16", "vgg19"] = "vgg16",
        layers: Sequence[str] = ("relu2_2",),
        weights: str | None = None,
    ) -> None:
        super().__init__()
        names = vgg_layer_names(arch)
        self.arch = arch
        self.layers = (layers,) if isinstance(layers, str) else tuple(layers)
        unknown = [name for name in self.layers if name not in names]
        if unknown or not self.layers or len(set(self.layers)) != len(self.layers):
            problem = f"unknown {unknown}" if unknown else "empty or repeated names"
            raise ValueError(f"VGGFeatures layers {list(self.layers)} ({problem}); valid {arch} layers: {names}")
        depth = max(names.index(name) for name in self.layers) + 1
        self.weights_path: Path | None = None
        if weights == RANDOM_WEIGHTS:
            state = random_stand_in(arch)
        else:
            self.weights_path = resolve_weights(arch, weights)
            state = _load_features_state(self.weights_path, arch, depth)
        self.features = nn.Sequential(
            OrderedDict((name, _frozen_layer(name, index, state)) for index, name in enumerate(names[:depth]))
        )
        for name, values in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)):
            self.register_buffer(name, torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.frozen_buffers = tuple(name for name, _ in self.named_buffers())
        super().train(False)

    def train(self, mode: bool = True) -> VGGFeatures:
        """Stay in eval mode whatever ``mode`` is (the loss network is a fixed function)."""
        return super().train(False)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> VGGFeatures:
        # Follow device moves and float64, but keep float16/bfloat16 conversions of a parent away from the loss
        # network: its features and Gram matrices are only meaningful in at least float32.
        super()._apply(fn, recurse)
        for module in self.modules():
            for name, buffer in module._buffers.items():
                if buffer is not None and buffer.dtype in (torch.float16, torch.bfloat16):
                    module._buffers[name] = buffer.float()
        return self

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """Compute the activations at the requested layers.

        Args:
            images: ``(N, 3, H, W)`` in [-1, 1], any float dtype (gradients flow back to it). H, W >= 1; each pool
                halves them (floor).

        Returns:
            ``{layer: (N, C_layer, H_layer, W_layer)}`` in the order of ``layers``, float32 (float64 if the module
            was converted to float64), computed with autocast disabled.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects (N, 3, H, W) images in [-1, 1]; got shape {tuple(images.shape)}")
        wanted = set(self.layers)
        found: dict[str, Tensor] = {}
        with torch.autocast(device_type=images.device.type, enabled=False):
            h = ((images.to(self.mean.dtype) + 1.0) / 2.0 - self.mean) / self.std
            for name, layer in self.features.named_children():
                h = layer(h)
                if name in wanted:
                    found[name] = h
        return {name: found[name] for name in self.layers}

    def extra_repr(self) -> str:
        """Show the architecture, taps and weight file in ``repr``."""
        weights = RANDOM_WEIGHTS if self.weights_path is None else str(self.weights_path)
        return f"arch={self.arch!r}, layers={self.layers!r}, weights={weights!r}"


def random_stand_in(arch: str) -> dict[str, Tensor]:
    """Return the ``"random"`` weights of ``arch`` (:func:`~lit_translate.standins.random_vgg_state`, seed 0), warning.

    The state is a pure function of ``arch`` (seeded, forked RNG), so every DDP rank and every reload of a
    checkpoint builds the same loss network.
    """
    from lit_translate.standins import random_vgg_state  # standins imports this module

    warnings.warn(
        f"vgg_weights={RANDOM_WEIGHTS!r}: using a RANDOM-WEIGHT {arch} stand-in (lit_translate.standins."
        f"random_vgg_state) as the loss network. For CPU demos and tests only: its features are not ImageNet "
        f"features, so perceptual and style losses optimise something else than the paper's; for real training "
        f"pass --model.init_args.vgg_weights PATH (the real {WEIGHTS[arch].filename}) or leave it unset to use "
        f"the torch.hub cache.",
        UserWarning,
        stacklevel=3,
    )
    return random_vgg_state(arch)


def _frozen_layer(name: str, index: int, state: dict[str, Tensor]) -> nn.Module:
    """Build layer ``name`` (torchvision index ``index``) with its weights as non-persistent buffers."""
    if name.startswith("pool"):
        return nn.MaxPool2d(kernel_size=2, stride=2)
    if name.startswith("relu"):
        return nn.ReLU()  # not in place: the preceding conv's output may be a tap (conv5_4)
    weight, bias = state[f"features.{index}.weight"], state[f"features.{index}.bias"]
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], kernel_size=3, padding=1, device="meta")
    for key, value in (("weight", weight), ("bias", bias)):
        delattr(conv, key)  # drop the (meta, uninitialised) parameter ...
        conv.register_buffer(key, value, persistent=False)  # ... and keep the weight as a frozen buffer
    return conv


def frozen_buffer_names(model: nn.Module) -> list[str]:
    """Fully qualified names of every :class:`VGGFeatures` buffer under ``model`` (for DDP's ignore list).

    Args:
        model: Any module, e.g. the LightningModule before Lightning wraps it in DDP.

    Returns:
        Names such as ``"vgg.features.conv1_1.weight"``, relative to ``model``.
    """
    return [
        f"{prefix}.{name}" if prefix else name
        for prefix, module in model.named_modules()
        if isinstance(module, VGGFeatures)
        for name in module.frozen_buffers
    ]


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "RANDOM_WEIGHTS",
    "VGGFeatures",
    "frozen_buffer_names",
    "random_stand_in",
    "vgg_conv_shapes",
    "vgg_layer_names",
]
