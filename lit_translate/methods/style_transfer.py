"""Fast neural style transfer (Johnson et al. 2016), with the settings of pytorch/examples ``fast_neural_style``.

Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution" (ECCV 2016).

An image transform network ``f_W`` (:class:`~lit_translate.nets.TransformerNet`) is trained through a frozen loss
network ``phi`` (VGG-16, :class:`~lit_translate.nets.VGGFeatures`) to minimise, for content images ``x`` and one
style image ``y_s`` (paper eq. 5 with ``y_c = x``)::

    content_weight * l_feat^{relu2_2}(f_W(x), x)  +  style_weight * sum_j l_style^{j}(f_W(x), y_s)  [+ tv_weight * TV]

``l_feat`` is the mean squared difference of the features (eq. 2), ``l_style`` the mean squared difference of the
Gram matrices ``G = F F^T / (C H W)`` (eq. 3-4) at relu1_2, relu2_2, relu3_3 and relu4_3. Only ``f_W`` learns;
there is no discriminator and no target image, so this method has one optimizer and ``evaluation_pairs`` gives
``(stylised, None)``. The reference's 0-255 convention maps exactly onto our [-1, 1] images (see the
``TransformerNet`` docstring), so its weights 1e5 / 1e10 and Adam 1e-3 mean the same here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from PIL import Image
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.data.images import synthetic_style_image, to_tensor
from lit_translate.data.io import load_image
from lit_translate.losses import feature_loss, gram_matrix, style_loss, total_variation
from lit_translate.methods.base import InferenceMode, NonFinitePolicy, Pairs, Target, TranslationModule
from lit_translate.methods.parts.optimizers import johnson_adam
from lit_translate.nets.vgg import VGGFeatures, vgg_layer_names
from lit_translate.pretrained.check import Need, vgg_needs
from lit_translate.pretrained.weights import loss_network

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
"""pytorch/examples' style taps (the ends of its VGG-16 slices)."""
SYNTHETIC_STYLE = "synthetic"
"""The ``style_image`` value of the built-in procedural style (``data.images.synthetic_style_image``)."""
STYLE_KEY = "--model.init_args.style_image"
_NEEDS_LOSS_NETWORK = ("fit", "validate", "test")


def load_style_image(path: str, size: int | None = None) -> Tensor:
    """Load the style image as ``(1, 3, H, W)`` in [-1, 1].

    Args:
        path: An image file, or ``"synthetic"`` for the built-in procedural style (256 px unless ``size``).
        size: Resize to ``size x size`` first (Lanczos, as the reference's ``--style-size``); None keeps the
            file's size.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names ``--model.init_args.style_image``).
        ValueError: The file is not a readable image.
    """
    if path == SYNTHETIC_STYLE:
        return to_tensor(synthetic_style_image(size or 256))[None]
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(
            f"style image {file} ({STYLE_KEY}) does not exist; pass {STYLE_KEY} FILE (an image file), or "
            f"'{SYNTHETIC_STYLE}' for the built-in demo style"
        )
    try:
        image = load_image(file, 3)
    except ValueError as error:
        raise ValueError(f"{STYLE_KEY}: {error}; pass another image file") from error
    if size is not None:
        image = np.array(Image.fromarray(image).resize((size, size), Image.LANCZOS))  # the reference's square resize
    return to_tensor(image)[None]


def thumbnail(image: Tensor, height: int, width: int) -> Tensor:
    """Resize ``image`` ``(N, C, h, w)`` to cover ``height x width`` (aspect kept, antialiased) and centre-crop."""
    scale = max(height / image.shape[-2], width / image.shape[-1])
    size = (max(height, round(image.shape[-2] * scale)), max(width, round(image.shape[-1] * scale)))
    resized = F.interpolate(image.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    top, left = (size[0] - height) // 2, (size[1] - width) // 2
    return resized[..., top : top + height, left : left + width].clamp(-1, 1)


class StyleTransfer(TranslationModule):
    """Johnson et al.'s feed-forward style transfer: one transform network, one style, content images ``{"A"}``.

    The loss network (VGG) and the style image are file-backed and only needed to compute losses, so they are
    built in :meth:`setup` for fit/validate/test (missing files fail there, before the first step), as
    non-persistent buffers: never in ``state_dict``, checkpoints or optimizers, and moved with the module. A
    checkpoint is therefore the transform network alone, and ``predict`` from it needs neither file.

    Args:
        generator: The transform network (``TransformerNet``), ``[-1, 1]`` in; unbounded out (clamped to [-1, 1]
            for inference, display, saving and validation; training uses the raw output, as the reference).
        style_image: The style image file, or ``"synthetic"`` (the built-in procedural style of the demo).
        optimizer: Optimizer factory. Default: None = Adam(lr 1e-3), the reference.
        lr_scheduler: Per-epoch scheduler factory. Default: None (constant, the reference).
        content_weight: Weight of the feature (content) loss. Default: 1e5 (pytorch/examples).
        style_weight: Weight of the style loss (sum over ``style_layers``). Default: 1e10 (pytorch/examples; its
            README used 5e10-1e11 for other styles).
        tv_weight: Weight of the total-variation term (``losses.total_variation``, squared differences on [-1, 1]
            images; a weight tuned on 0-255 outputs is multiplied by 127.5**2 here). Default: 0 (the reference has
            none; 0 leaves the term out).
        content_layer: VGG layer of the content loss. Default: ``"relu2_2"``.
        style_layers: VGG layers of the style loss. Default: relu1_2, relu2_2, relu3_3, relu4_3.
        style_size: Resize the style image to ``style_size x style_size`` (the reference's ``--style-size``).
            Default: None (its own size).
        vgg_arch: ``"vgg16"`` (the paper) or ``"vgg19"``. Default: ``"vgg16"``.
        vgg_weights: Local torchvision VGG file (``vgg16-397923af.pth``); None = the torch.hub cache (offline
            without it: an error naming the file and the fetch command); ``"random"`` = a random-weight stand-in
            for CPU demos and tests only (see ``VGGFeatures``). Default: None.
        inference_mode: ``"eval"`` or ``"train"`` (see ``TranslationModule``; instance norm behaves the same).
            Default: ``"eval"``.
        on_nonfinite: ``"stop"`` or ``"skip"`` (see ``TranslationModule``). Default: ``"stop"``.
        max_skipped_steps: With ``"skip"``, stop after this many skipped steps in a row. Default: 20.

    Raises:
        ValueError: A layer is not a layer of ``vgg_arch``, ``style_layers`` is empty, a weight is negative or
            all are 0, or ``style_size`` < 1.
    """

    paired = False  # no target image: PSNR/SSIM/LPIPS do not apply, evaluation_pairs gives (stylised, None)

    def __init__(
        self,
        generator: nn.Module,
        style_image: str,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        content_weight: float = 1e5,
        style_weight: float = 1e10,
        tv_weight: float = 0.0,
        content_layer: str = "relu2_2",
        style_layers: tuple[str, ...] = STYLE_LAYERS,
        style_size: int | None = None,
        vgg_arch: Literal["vgg16", "vgg19"] = "vgg16",
        vgg_weights: str | None = None,
        inference_mode: InferenceMode = "eval",
        on_nonfinite: NonFinitePolicy = "stop",
        max_skipped_steps: int = 20,
    ) -> None:
        super().__init__(inference_mode, on_nonfinite, max_skipped_steps)
        self.save_config_hyperparameters()
        names = vgg_layer_names(check_choice("vgg_arch", vgg_arch, ("vgg16", "vgg19")))
        self.content_layer = check_choice("content_layer", content_layer, names)
        self.style_layers = tuple(check_choice("style_layers", name, names) for name in style_layers)
        if not self.style_layers:
            raise ValueError("style_layers is empty; give at least one VGG layer, e.g. [relu1_2, relu2_2]")
        weights = {"content": content_weight, "style": style_weight, "tv": tv_weight}
        for key, value in weights.items():
            if value < 0:
                raise ValueError(f"{key}_weight must be >= 0, got {value}")
        if not any(weights.values()):
            raise ValueError("content_weight, style_weight and tv_weight are all 0: nothing to train")
        if style_size is not None and style_size < 1:
            raise ValueError(f"style_size must be >= 1 or null, got {style_size}")
        self.generator = generator
        self.style_image, self.style_size = style_image, style_size
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler
        self.weights = weights
        self.vgg_arch, self.vgg_weights = vgg_arch, vgg_weights
        self.vgg: VGGFeatures | None = None

    # ------------------------------------------------------------------------------------------- loss network
    @override
    def setup(self, stage: str) -> None:
        """Build the loss network and the style targets once, for fit/validate/test (not needed to predict)."""
        if stage in _NEEDS_LOSS_NETWORK and self.vgg is None:
            self.build_loss_network()
        super().setup(stage)  # after the build: the base sees the frozen network (e.g. to keep it out of DDP)

    @override
    def pretrained_needs(self, stage: str) -> list[Need]:
        """Return the VGG file of the loss network, for fit/validate/test (none with ``vgg_weights: random``)."""
        needs_vgg = stage in _NEEDS_LOSS_NETWORK and self.vgg is None
        return vgg_needs(self.vgg_arch, self.vgg_weights) if needs_vgg else []

    def build_loss_network(self) -> None:
        """Build the frozen VGG and the style image's Gram matrices (non-persistent buffers) on the module's device.

        Raises:
            FileNotFoundError, ValueError: The style image is missing or unreadable.
            WeightsUnavailableError: No VGG file given, cached or downloadable.
        """
        style = load_style_image(self.style_image, self.style_size).to(self.device)
        layers = tuple(dict.fromkeys((self.content_layer, *self.style_layers)))
        vgg = loss_network(self.vgg_arch, layers, self.vgg_weights).to(self.device)
        with torch.no_grad():
            features = vgg(style)
        self.register_buffer("style", style, persistent=False)
        for name in self.style_layers:  # (1, C, C) targets, broadcast over any batch by style_loss
            self.register_buffer(f"style_gram_{name}", gram_matrix(features[name]), persistent=False)
        self.vgg = vgg

    @property
    def target_grams(self) -> dict[str, Tensor]:
        """Return the style image's Gram matrix per style layer, ``{layer: (1, C, C)}``."""
        return {name: getattr(self, f"style_gram_{name}") for name in self.style_layers}

    def perceptual_terms(self, content: Tensor, stylised: Tensor) -> dict[str, Tensor]:
        """Return the weighted loss terms (``content``, ``style``, ``tv``; zero-weight terms left out).

        Args:
            content: Content images ``x``, ``(N, 3, H, W)`` in [-1, 1].
            stylised: ``f_W(x)``, same shape.
        """
        if self.vgg is None:
            raise RuntimeError("the loss network is built in setup(); call trainer.fit/validate/test")
        features = self.vgg(stylised)
        terms: dict[str, Tensor] = {}
        if self.weights["content"]:
            with torch.no_grad():
                target = self.vgg(content)[self.content_layer]
            terms["content"] = self.weights["content"] * feature_loss(features[self.content_layer], target)
        if self.weights["style"]:
            styled = {name: features[name] for name in self.style_layers}
            terms["style"] = self.weights["style"] * style_loss(styled, self.target_grams)
        if self.weights["tv"]:
            terms["tv"] = self.weights["tv"] * total_variation(stylised)
        return terms

    # ------------------------------------------------------------------------------------------------ contract
    @override
    def generator_for(self, target: Target) -> nn.Module:
        return self.generator

    @override
    def generate(self, net: nn.Module, x: Tensor, target: Target) -> Tensor:
        return net(x).clamp(-1.0, 1.0)  # no output activation (the reference clamps when saving)

    @override
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        content = batch["A"]
        self.optimize(self.optimizers(), self.perceptual_terms(content, self.generator(content)), prefix="g")

    @override
    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        content = batch["A"]
        style = thumbnail(self.style, *content.shape[-2:])  # one tile: SampleGrid shows it in the first row only
        return {"content": content, "stylised": self.translate(content), "style": style}

    @override
    def evaluation_pairs(self, batch: dict[str, Any]) -> Pairs:
        return {"": (self.translate(batch["A"]), None)}

    @override
    def validation_losses(self, batch: dict[str, Any], pairs: Pairs) -> dict[str, Tensor]:
        # The terms of the images as displayed and saved (clamped to [-1, 1]), on the fixed validation images.
        terms = self.perceptual_terms(batch["A"].float(), pairs[""][0].float())
        return {**terms, "total": torch.stack(list(terms.values())).sum()}

    @override
    def configure_optimizers(self) -> Any:
        optimizer = self.build_optimizer(self.optimizer or johnson_adam, self.generator.parameters())
        return [optimizer], self.build_schedulers(self.lr_scheduler, [optimizer])


__all__ = ["STYLE_LAYERS", "SYNTHETIC_STYLE", "StyleTransfer", "johnson_adam", "load_style_image", "thumbnail"]
