"""What the label-map methods (SPADE, pix2pixHD) share: the semantic input, the conditional D, the VGG loss.

A base of :class:`~lit_translate.methods.spade.SPADE` and :class:`~lit_translate.methods.pix2pixhd.Pix2PixHD`.
Their batches come from :class:`~lit_translate.data.SemanticDataModule` (``batch_kinds``: ``"A"`` an int64 label
map, ``"B"`` the photo, optional ``"A_instance"``). The generator's input is built on the device by
:func:`~lit_translate.data.semantic.inputs.semantic_input` (one-hot classes, dontcare, instance edges), from
the model options ``labels`` (``label_nc``), ``dontcare`` (``contain_dontcare_label``) and ``instance_edges``: read
from the DataModule at set-up unless given, and stored in the hyperparameters, so a checkpoint builds the same
input without the data (other names than the DataModule's, whose hyperparameters Lightning merges with these).

``translate(x)`` takes a label map ``(N, 1, H, W)`` (int) or an already built float generator input. A label
map without its instance map (predict folders hold label maps only) gets the edges of the label map itself as
the instance edges: the class boundaries, a subset of the instance boundaries (Cityscapes' instance ids equal
the class id for stuff classes).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.data.semantic.inputs import semantic_input
from lit_translate.errors import InputError
from lit_translate.losses import VGG_LOSS_LAYERS, reference_vgg_input, vgg_loss
from lit_translate.methods.base import InferenceMode, NonFinitePolicy, Pairs, TranslationModule
from lit_translate.nets.vgg import VGGFeatures
from lit_translate.pretrained.check import Need, vgg_needs
from lit_translate.pretrained.weights import loss_network

VggInput = Literal["reference", "imagenet"]
"""How images reach the VGG loss network: ``"reference"`` (the references' unnormalised [-1, 1]) or ImageNet."""


def label_colors(label_map: Tensor, num_classes: int) -> Tensor:
    """Colour a label map ``(N, 1, H, W)`` for display: float ``(N, 3, H, W)`` in [-1, 1].

    The colours are the PASCAL VOC / pix2pixHD ``labelcolormap`` bit pattern (id 0 black, then distinct hues).
    """
    ids = torch.arange(max(num_classes, 1) + 1, device=label_map.device)
    palette = torch.zeros(len(ids), 3, device=label_map.device)
    code = ids.clone()
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] += ((code >> channel) & 1).float() * (1 << (7 - bit))
        code = code >> 3
    colours = palette[label_map[:, 0].long().clamp(0, len(ids) - 1)]  # (N, H, W, 3)
    return colours.permute(0, 3, 1, 2) / 127.5 - 1.0


class LabelMapModule(TranslationModule):
    """Shared plumbing of the label-map -> photo methods (see the module docstring).

    Args:
        labels: Classes of the label maps (``label_nc``); None: the DataModule's ``label_nc``.
        dontcare: The maps hold the dontcare id ``label_nc``; None: the DataModule's ``contain_dontcare_label``.
        instance_edges: Append the instance edge channel; None: whether the DataModule has instance maps.
        vgg_weights: VGG-19 file of the VGG loss; None = the torch.hub cache; ``"random"`` = a stand-in for CPU
            demos and tests only (a loud warning).
        vgg_input: ``"reference"`` (default: the images in [-1, 1] go to the VGG unnormalised, as both
            references do) or ``"imagenet"`` (ImageNet-normalised, what the VGG was trained on).
        inference_mode, on_nonfinite, max_skipped_steps: See ``TranslationModule``.
    """

    def __init__(
        self,
        *,
        labels: int | None = None,
        dontcare: bool | None = None,
        instance_edges: bool | None = None,
        vgg_weights: str | None = None,
        vgg_input: VggInput = "reference",
        lambda_vgg: float = 10.0,
        inference_mode: InferenceMode = "eval",
        on_nonfinite: NonFinitePolicy = "stop",
        max_skipped_steps: int = 20,
    ) -> None:
        super().__init__(inference_mode=inference_mode, on_nonfinite=on_nonfinite, max_skipped_steps=max_skipped_steps)
        self.label_nc, self.contain_dontcare_label, self.use_instance = labels, dontcare, instance_edges
        if vgg_input not in ("reference", "imagenet"):
            raise InputError(f"--model.init_args.vgg_input must be 'reference' or 'imagenet', got {vgg_input!r}")
        self.vgg_weights, self.vgg_input, self.lambda_vgg = vgg_weights, vgg_input, lambda_vgg
        self.vgg: VGGFeatures | None = None  # built for fit only: inference never needs the VGG

    # ----------------------------------------------------------------------------------------------- set-up
    @override
    def setup(self, stage: str) -> None:
        self.read_label_options(getattr(self.trainer, "datamodule", None))
        if stage == "fit":
            self.build_loss_network()  # before the base's setup lists its buffers for DDP to ignore
        super().setup(stage)

    def read_label_options(self, datamodule: Any) -> None:
        """Take ``labels``, ``dontcare`` and ``instance_edges`` from ``datamodule`` where unset.

        Stores them in the hyperparameters (checkpoints rebuild the same input). A given value that differs from
        the DataModule's is an InputError naming both.
        """
        options = {  # hyperparameter: (attribute, the DataModule's attribute)
            "labels": ("label_nc", "label_nc"),
            "dontcare": ("contain_dontcare_label", "contain_dontcare_label"),
            "instance_edges": ("use_instance", "instance"),
        }
        for key, (attribute, data_attribute) in options.items():
            mine, value = getattr(self, attribute), getattr(datamodule, data_attribute, None)
            if mine is None:
                setattr(self, attribute, value)
            elif value is not None and key != "instance_edges" and mine != value:
                raise InputError(
                    f"--model.init_args.{key} is {mine} but the data has {data_attribute} {value}; drop the model "
                    f"option (it is read from the data) or make them equal"
                )
            if getattr(self, attribute) is None:
                raise InputError(
                    f"{type(self).__name__} needs label-map data (lit_translate.data.SemanticDataModule) or "
                    f"--model.init_args.{key}"
                )
            self.hparams[key] = getattr(self, attribute)

    def build_loss_network(self) -> VGGFeatures | None:
        """Create the frozen VGG-19 of the VGG loss once (None when ``lambda_vgg`` is 0), on the module's device."""
        if self.vgg is None and self.lambda_vgg:
            self.vgg = loss_network("vgg19", VGG_LOSS_LAYERS, self.vgg_weights).to(self.device)
        return self.vgg

    @override
    def pretrained_needs(self, stage: str) -> list[Need]:
        """Return the VGG-19 file of the VGG loss, for fit only (none with ``vgg_weights: random``)."""
        needs_vgg = stage == "fit" and self.vgg is None and bool(self.lambda_vgg)
        return vgg_needs("vgg19", self.vgg_weights) if needs_vgg else []

    # ---------------------------------------------------------------------------------------------- inputs
    def semantic(self, label_map: Tensor, instance_map: Tensor | None = None) -> Tensor:
        """Return the float semantic input of ``label_map`` (its own edges stand in for a missing instance map)."""
        if self.label_nc is None:
            raise InputError(f"{type(self).__name__}: label_nc is unknown until set-up; pass --model.init_args.labels")
        if self.use_instance and instance_map is None:
            instance_map = label_map
        instance = instance_map if self.use_instance else None
        return semantic_input(label_map, self.label_nc, bool(self.contain_dontcare_label), instance, check=False)

    def generator_input(self, batch: dict[str, Any]) -> Tensor:
        """Return G's float input for ``batch`` (default: :meth:`semantic` of its label and instance maps)."""
        return self.semantic(batch["A"], batch.get("A_instance"))

    def conditional(self, semantic: Tensor, image: Tensor) -> Tensor:
        """Return D's input: the semantic map concatenated with a real or generated image."""
        return torch.cat((semantic, image.to(semantic.dtype)), dim=1)

    def discriminate(
        self, discriminator: nn.Module, semantic: Tensor, fake: Tensor, real: Tensor
    ) -> tuple[list[list[Tensor]], list[list[Tensor]]]:
        """Run the multi-scale D once on fake and real pairs stacked in the batch (SPADE's ``discriminate``).

        Returns ``(fake outputs, real outputs)``, each ``[[features..., logits] per scale]``. With instance norm
        (both references' D) this equals two separate calls.
        """
        both = torch.cat((self.conditional(semantic, fake), self.conditional(semantic, real)), dim=0)
        n = fake.shape[0]
        outputs = discriminator(both)
        return [[t[:n] for t in scale] for scale in outputs], [[t[n:] for t in scale] for scale in outputs]

    def vgg_term(self, fake: Tensor, real: Tensor) -> Tensor:
        """Return the unweighted VGG loss of ``fake`` against ``real`` (see ``vgg_input``)."""
        vgg = self.build_loss_network()
        assert vgg is not None
        if self.vgg_input == "reference":
            fake, real = reference_vgg_input(fake), reference_vgg_input(real)
        with torch.no_grad():
            real_features = vgg(real)
        return vgg_loss(vgg(fake), real_features)

    # ------------------------------------------------------------------------------------------ evaluation
    @override
    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        fake = self.translate(self.generator_input(batch))
        return {"input": label_colors(batch["A"], int(self.label_nc or 1)), "output": fake, "target": batch["B"]}

    @override
    def evaluation_pairs(self, batch: dict[str, Any]) -> Pairs:
        return {"": (self.translate(self.generator_input(batch)), batch["B"])}

    @override
    def validation_losses(self, batch: dict[str, Any], pairs: Pairs) -> dict[str, Tensor]:
        fake, real = pairs[""]
        assert real is not None
        return {"l1": F.l1_loss(fake.float(), real.float())}


def trained_parameters(*nets: nn.Module | None) -> list[nn.Parameter]:
    """Return the parameters of the given nets (None skipped), for one optimizer."""
    return [p for net in nets if net is not None for p in net.parameters()]


__all__ = ["LabelMapModule", "VggInput", "label_colors", "trained_parameters"]
