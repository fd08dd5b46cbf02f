"""Frozen VGG loss network for perceptual losses (Johnson et al. 2016; also SRGAN-style VGG losses).

``VGGFeatures`` is torchvision's VGG-16 or VGG-19 ``features`` stack, cut right after the deepest requested tap.
Its layers are named as in the papers (``conv1_1``, ``relu1_1``, ..., ``pool1``, ...): torchvision's index ``i`` in
``features`` is position ``i`` of :func:`vgg_layer_names`, so ``relu2_2`` is ``features[8]`` of VGG-16 (the
pytorch/examples ``fast_neural_style`` slices end at 3, 8, 15, 22 = relu1_2, relu2_2, relu3_3, relu4_3) and
``conv5_4`` is ``features[34]`` of VGG-19 (BasicSR's ESRGAN loss).

The network is a fixed function, never a trained or saved part of a model: every weight is a non-persistent
buffer (a :class:`~lit_translate.nets.frozen.FrozenModule`). Plain torch: it takes a resolved state dict (or a
file); which file (the torch.hub cache, a download, a random stand-in) is decided outside ``nets/``, by
:func:`lit_translate.pretrained.weights.loss_network_state`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from lit_translate.choices import check_choice
from lit_translate.nets.frozen import FrozenModule, frozen_buffer_names

# Convolutions per block (torchvision cfg "D" = VGG-16, "E" = VGG-19) and each block's width; a 2x2 max-pool
# ends every block.
_BLOCKS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_WIDTHS = (64, 128, 256, 512, 512)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

WeightsLocator = Callable[[str, str | None], tuple[Mapping[str, Tensor], Path | None]]
"""``(arch, weights) -> (state dict, file or None)``: how a file name, None or ``"random"`` becomes weights."""


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


def read_state_file(path: str | os.PathLike[str], arch: str) -> dict[str, Tensor]:
    """Read a torchvision ``arch`` state dict from ``path`` (``weights_only``); unreadable files name the path."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"{path} is not a readable torchvision {arch} state dict ({error})") from error
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a torchvision {arch} state dict")
    return state


def features_state(state: Mapping[str, Tensor], arch: str, depth: int, source: str) -> dict[str, Tensor]:
    """Return float32 copies of the ``features.<i>.weight/bias`` tensors of the first ``depth`` layers of ``state``.

    Args:
        state: A torchvision ``arch`` state dict (classifier keys are ignored).
        arch: ``"vgg16"`` or ``"vgg19"``.
        depth: How many layers of :func:`vgg_layer_names` are kept.
        source: Where ``state`` comes from, for the error message (a file name).

    Raises:
        ValueError: A key is missing or has the wrong shape (the message names ``source`` and the keys).
    """
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
            f"{source} is not a torchvision {arch} state dict ({problems}). Expected the layout of torchvision's "
            f"{arch}(weights=IMAGENET1K_V1).state_dict() (keys features.<i>.weight/bias)."
        )
    return {key: state[key].detach().to(torch.float32).clone() for key in expected}


def _local_file(arch: str, weights: str | None) -> tuple[Mapping[str, Tensor], Path | None]:
    """Read ``weights`` as a file (the locator without a weights registry; None is an error)."""
    if weights is None:
        raise ValueError(
            f"VGGFeatures({arch!r}) got no weights: pass a state dict or a file (lit_translate.pretrained.weights."
            "loss_network_state resolves None, a file name or 'random')"
        )
    path = Path(os.path.expanduser(str(weights)))
    if not path.is_file():
        raise FileNotFoundError(f"VGG weights file {path} does not exist")
    return read_state_file(path, arch), path


class VGGFeatures(FrozenModule):
    """Frozen torchvision VGG ``features``, returning the activations at named layers (the "loss network" phi).

    Input convention: images in [-1, 1]. The module maps them to [0, 1] and applies the ImageNet mean/std itself
    (out of place), which is exactly pytorch/examples' ``normalize_batch`` applied to the same image in 0-255.

    Frozen, in four ways (:class:`~lit_translate.nets.frozen.FrozenModule`):

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
    frozen_buffer_names(model))`` (:func:`~lit_translate.nets.frozen.frozen_buffer_names` collects the fully
    qualified names of every frozen module's buffers under ``model``). ``frozen_buffers`` holds this module's own.

    Args:
        arch: ``"vgg16"`` (Johnson et al., LPIPS) or ``"vgg19"`` (SRGAN/ESRGAN). Default ``"vgg16"``.
        layers: The taps, by paper name (``"relu2_2"``, ``"conv5_4"``, ``"pool3"``, ...), returned in this order;
            a single string is one tap. Default ``("relu2_2",)`` (Johnson's content/feature layer).
        weights: The resolved torchvision state dict of ``arch`` (``features.<i>.weight/bias``; classifier keys
            are ignored), as ``lit_translate.pretrained.weights.loss_network_state`` returns it. A file name, None
            or ``"random"`` goes through :attr:`locate_weights`: once the weights registry is imported, the
            registry's resolver (None: the torch.hub cache, then a download, offline ``WeightsUnavailableError``;
            ``"random"``: the calibrated stand-in, with a warning); without it, a file is read as it is. Default
            None.

    Attributes:
        arch: As given.
        layers: The requested taps, a tuple.
        weights_path: The weight file it was read from (reports record it); None for a state dict or a stand-in.
        features: ``nn.Sequential`` of the layers up to the deepest tap, named ``conv1_1``, ``relu1_1``, ...
        frozen_buffers: Names of this module's buffers, relative to it.
        locate_weights: The class-wide :data:`WeightsLocator` for file names and None (the registry installs
            itself here; plain torch otherwise).

    Raises:
        ValueError: ``arch`` or a layer name is unknown (the message lists the valid names), ``layers`` is empty or
            repeats a name, or the weights are not a torchvision ``arch`` state dict (the message names the file).
        FileNotFoundError: ``weights`` names a file that does not exist.
        WeightsUnavailableError: ``weights`` is None, the file is not cached and cannot be downloaded.
    """

    locate_weights: ClassVar[WeightsLocator] = staticmethod(_local_file)

    def __init__(
        self,
        arch: Literal["vgg16", "vgg19"] = "vgg16",
        layers: Sequence[str] = ("relu2_2",),
        weights: Mapping[str, Tensor] | str | None = None,
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
        if not isinstance(weights, Mapping):
            weights, self.weights_path = type(self).locate_weights(arch, weights)
        source = str(self.weights_path) if self.weights_path is not None else f"the {arch} state dict"
        state = features_state(weights, arch, depth, source)
        self.features = nn.Sequential(
            OrderedDict((name, _frozen_layer(name, index, state)) for index, name in enumerate(names[:depth]))
        )
        for name, values in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)):
            self.register_buffer(name, torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        super().train(False)

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
        weights = "<state dict>" if self.weights_path is None else str(self.weights_path)
        return f"arch={self.arch!r}, layers={self.layers!r}, weights={weights!r}"


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


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VGGFeatures",
    "WeightsLocator",
    "features_state",
    "frozen_buffer_names",
    "read_state_file",
    "vgg_conv_shapes",
    "vgg_layer_names",
]
