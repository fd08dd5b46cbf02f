"""Image-quality metrics of a translation model during validation and test: FID, KID, LPIPS, PSNR, SSIM, mIoU.

:class:`TranslationMetrics` is a Callback, so the metric networks (InceptionV3, the LPIPS backbone) never enter
the LightningModule's ``state_dict`` or its checkpoints. It asks the module for ``evaluation_pairs(batch)``
(``{direction_tag: (fake, real_target)}``, images in [-1, 1], see ``docs/architecture.md``) on every validation
or test batch and logs, at the end of the epoch, ``val/fid``, ``val/kid``, ``val/lpips``, ``val/psnr``,
``val/ssim`` (tag ``""``) or ``val/fid_ab``, ``val/fid_ba``, ... (tags ``"ab"``/``"ba"``), and ``test/...``;
with a segmenter, label-map methods also get ``val/miou`` and ``val/pixel_acc`` (``evaluation/segmentation.py``).

Conventions (FID/KID input quantisation, LPIPS range, PSNR/SSIM channels and crops, float32 with autocast off)
are in ``docs/evaluation.md`` and the input adapters (``evaluation/adapters.py``). Distributed: torchmetrics sums
or gathers the states of all ranks in ``compute()``, which therefore runs on every rank; every image must reach
exactly one rank (the data modules' evaluation loaders use ``ShardedSampler(pad=False)``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.data.sampling import sampler_problem
from lit_translate.evaluation import directions, networks
from lit_translate.evaluation.adapters import ValueRange, to_lpips_input, to_rgb, to_uint8, to_unit
from lit_translate.evaluation.directions import check_same_tags, compute_direction, direction_metrics
from lit_translate.evaluation.image_metrics import ImageCount, LPIPSMean
from lit_translate.evaluation.networks import SharedFeatures, build_inception, build_lpips_net, num_features_of
from lit_translate.evaluation.segmentation import Pairs, SegmenterInput, SegmenterScoring
from lit_translate.evaluation.sr_metrics import Channels, Implementation, PSNRProtocol
from lit_translate.pretrained.check import Need, check_needs
from lit_translate.pretrained.weights import LPIPS_BACKBONES, describe_file

METRIC_NAMES = ("fid", "kid", "lpips", "psnr", "ssim", "psnr_y", "ssim_y", "miou", "pixel_acc")

# Values are computed by torchmetrics on all ranks and are identical; logging them with sync_dist=False is right.
warnings.filterwarnings(
    "ignore",
    message=r"It is recommended to use `self\.log\('(val|test)/(fid|kid|lpips|psnr|ssim|miou|pixel_acc)(_\w+)?'",
)


# ---------------------------------------------------------------------------------------------------- callback
class TranslationMetrics(Callback):
    """FID, KID, LPIPS, PSNR and SSIM of ``pl_module.evaluation_pairs`` on the validation and test splits.

    Logged at the end of each evaluated epoch as ``val/<metric>[_<tag>]`` (``test/...`` in test); PSNR, SSIM and
    LPIPS only for ``paired`` methods; a direction whose ``evaluation_pairs`` give no real images (``(fake,
    None)``: a method without targets, such as style transfer) is counted and gets no metric. Runs at every
    ``trainer.validate``/``trainer.test``, and during fit after epochs ``every_n_epochs - 1, 2 * every_n_epochs - 1,
    ...`` (never in the sanity check). Monitoring ``val/fid`` with a ``ModelCheckpoint`` needs the same
    ``every_n_epochs`` on both.

    The metric networks are built at ``setup`` from :func:`~lit_translate.evaluation.resolve_weights` (their files
    are checked with the method's first: ``pretrained_needs``, one error names every missing file) and live in
    this callback, never in checkpoints. Metric states are moved to the module's device on use, reset after use.
    :attr:`weight_files` records the file of each metric network built (``"features"``, ``"lpips"``: path, sha256,
    whether it is the registered pretrained file), which the report copies.

    Args:
        every_n_epochs: during fit, evaluate after every this many epochs. Default: 1.
        fid: Fréchet Inception Distance, generated vs real target-domain images. Default: True.
        kid: Kernel Inception Distance (unbiased; preferable for small sets). Default: True.
        lpips: LPIPS to the aligned target (paired methods). Default: True.
        psnr: PSNR to the aligned target, RGB [0, 1], mean over images (paired methods). Default: True.
        ssim: SSIM to the aligned target, RGB [0, 1], mean over images (paired methods). Default: True.
        kid_subset_size: KID subset size; ``min(kid_subset_size, N)`` is used, and with subsets of all ``N``
            images a single exact (deterministic) estimate replaces the 100 random subsets. Default: 1000.
        inception_weights: local ``weights-inception-2015-12-05-6726825d.pth``; None = torch.hub cache.
        lpips_net: LPIPS backbone: ``"alex"``, ``"vgg"`` or ``"squeeze"``. Default: ``"alex"``.
        lpips_backbone_weights: local torchvision backbone file (e.g. ``alexnet-owt-7be5be79.pth``);
            None = torch.hub cache.
        feature_extractor: a module mapping float [0, 1] images ``(N, C, H, W)`` to ``(N, D)`` features, used for
            FID/KID instead of InceptionV3 (tests, non-natural-image domains); set ``num_features`` on it to skip
            shape inference. Default: None.
        enabled: False turns the callback off (nothing is built, computed or logged). Default: True.
        psnr_ssim: PSNR/SSIM implementation: ``"torchmetrics"`` (float, not quantised; translation) or
            ``"basicsr"`` (8-bit quantised, float64, BasicSR's SSIM; the super-resolution convention).
            Default: ``"torchmetrics"``.
        psnr_channels: ``"rgb"`` (logged ``psnr``/``ssim``), ``"y"`` (``psnr_y``/``ssim_y``: the BT.601 luma of
            MATLAB's ``rgb2ycbcr``, as SR paper tables) or ``"both"``. Default: ``"rgb"``.
        crop_border: pixels ignored at each border for PSNR/SSIM, or ``"auto"`` = the model's ``output_scale()``
            (BasicSR crops ``scale``; 0 for translation). Images are also cropped to a multiple of the scale.
            Default: 0.
        segmenter: label-map methods: a TorchScript file or an ``nn.Module`` class path whose logits on the generated
            images are scored against the input label maps (``miou``, ``pixel_acc``). Default: None (off).
        segmenter_input: its input: ``"minus_one_one"``, ``"zero_one"`` or ``"imagenet"``. Default: ``"minus_one_one"``.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        fid: bool = True,
        kid: bool = True,
        lpips: bool = True,
        psnr: bool = True,
        ssim: bool = True,
        kid_subset_size: int = 1000,
        inception_weights: str | None = None,
        lpips_net: str = "alex",
        lpips_backbone_weights: str | None = None,
        feature_extractor: nn.Module | None = None,
        enabled: bool = True,
        psnr_ssim: Implementation = "torchmetrics",
        psnr_channels: Channels = "rgb",
        crop_border: int | Literal["auto"] = 0,
        segmenter: str | None = None,
        segmenter_input: SegmenterInput = "minus_one_one",
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        if kid_subset_size < 2:
            raise ValueError(f"kid_subset_size must be >= 2, got {kid_subset_size}")
        check_choice("lpips_net", lpips_net, LPIPS_BACKBONES)
        self.every_n_epochs = every_n_epochs
        self.fid, self.kid, self.lpips, self.psnr, self.ssim = fid, kid, lpips, psnr, ssim
        self.kid_subset_size = kid_subset_size
        self.inception_weights = inception_weights
        self.lpips_net = lpips_net
        self.lpips_backbone_weights = lpips_backbone_weights
        self.feature_extractor = feature_extractor
        self.enabled = enabled
        self.protocol = PSNRProtocol(psnr_ssim, psnr_channels, crop_border)  # evaluation/sr_metrics.py
        self.segmentation = SegmenterScoring(segmenter, segmenter_input)  # evaluation/segmentation.py
        self.results: dict[str, float] = {}
        self.num_images: dict[str, int] = {}
        self.last_stage: str | None = None
        self.weight_files: dict[str, dict[str, str | bool]] = {}
        self._features: SharedFeatures | None = None
        self._lpips_model: nn.Module | None = None
        self._metrics: dict[str, nn.ModuleDict] = {}
        self._targetless: set[str] = set()  # direction tags whose evaluation_pairs have no real images
        self._active = False
        self._sampler_checked = False

    # ---------------------------------------------------------------------------------------------- building
    def build(self, paired: bool) -> None:
        """Build the feature network and, for paired methods, the LPIPS network (idempotent).

        Raises:
            WeightsUnavailableError: a pretrained file is missing and cannot be downloaded (several: one error).
        """
        check_needs(networks.metric_needs(self, paired))  # every missing file in one error, before anything is built
        if (self.fid or self.kid) and self._features is None:
            if self.feature_extractor is not None:
                net = self.feature_extractor.eval().requires_grad_(False)
                self._features = SharedFeatures(net, num_features_of(net))
                name = type(net).__name__
                self.weight_files["features"] = {
                    "name": name,
                    "file": f"custom feature_extractor {name}",
                    "sha256": "",
                    "registered": False,
                }
            else:
                inception = build_inception(self.inception_weights)
                self._features = SharedFeatures(inception, 2048)
                self.weight_files["features"] = describe_file("inception", inception.weights_file)
        if paired and self.lpips and self._lpips_model is None:
            self._lpips_model = build_lpips_net(self.lpips_net, self.lpips_backbone_weights)
            self.weight_files["lpips"] = describe_file(LPIPS_BACKBONES[self.lpips_net], self._lpips_model.weights_file)
        self.segmentation.build(self.weight_files)  # once configured with the data's classes (setup)

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "predict" or not self.enabled:
            return
        if not callable(getattr(pl_module, "evaluation_pairs", None)):
            raise TypeError(
                f"TranslationMetrics needs {type(pl_module).__name__}.evaluation_pairs(batch) -> "
                "{tag: (fake, real_target)} (see docs/architecture.md)"
            )
        if self._builds_at(trainer, stage):  # a fit that never evaluates needs no pretrained weights
            self.segmentation.configure(trainer.datamodule)
            self.build(paired=_is_paired(pl_module))

    def pretrained_needs(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> list[Need]:
        """Return the metric networks' files that ``stage`` loads (checked with the method's, ``weights_check``)."""
        return networks.metric_needs(self, _is_paired(pl_module)) if self._builds_at(trainer, stage) else []

    def _builds_at(self, trainer: Trainer, stage: str) -> bool:
        """Whether set-up of ``stage`` builds the metric networks (a fit: only if it reaches an evaluation)."""
        epochs = trainer.max_epochs if trainer.max_epochs is not None else -1
        never = trainer.limit_val_batches == 0 or 0 <= epochs < self.every_n_epochs
        return self.enabled and stage != "predict" and not (stage == "fit" and never)

    def _direction_metrics(self, paired: bool) -> nn.ModuleDict:
        enabled = {"fid": self.fid, "kid": self.kid, "lpips": self.lpips, "psnr": self.psnr, "ssim": self.ssim}
        nets = self._features, self._lpips_model
        return direction_metrics(*nets, self.protocol, enabled, self.kid_subset_size, paired)

    # ----------------------------------------------------------------------------------------------- updates
    def _should_run(self, trainer: Trainer) -> bool:
        if trainer.sanity_checking or not self.enabled:
            return False
        if trainer.state.fn == TrainerFn.FITTING:
            return (trainer.current_epoch + 1) % self.every_n_epochs == 0
        return True

    @override
    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._active = self._should_run(trainer)
        self._reset()
        self._read_scale(pl_module)
        if self._active:
            self.build(paired=_is_paired(pl_module))
            self._warn_about_sampler(trainer, trainer.val_dataloaders)

    @override
    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._active = self.enabled
        self._reset()
        self._read_scale(pl_module)
        self._warn_about_sampler(trainer, trainer.test_dataloaders)

    def _read_scale(self, pl_module: LightningModule) -> None:
        """Read ``output_scale()`` (crop_border "auto", mod-crop) after the model's setup: targets are known then."""
        scale = getattr(pl_module, "output_scale", None)
        self.protocol.scale = int(scale()) if callable(scale) else 1

    def _warn_about_sampler(self, trainer: Trainer, loaders: Any) -> None:
        if trainer.world_size > 1 and not self._sampler_checked:
            self._sampler_checked = True
            directions.warn_about_samplers(loaders)

    def _evaluate_batch(self, pl_module: LightningModule, batch: Any, outputs: Any, step_context: Any) -> None:
        """Update the metrics with the step's ``outputs["pairs"]``, else translate ``batch`` as the step does."""
        if not self._active:
            return
        pairs = outputs.get("pairs") if isinstance(outputs, Mapping) else None
        if pairs is None:  # a module whose validation/test step does not return its evaluation pairs
            with step_context():
                pairs = pl_module.evaluation_pairs(batch)
        self.update(pairs, _is_paired(pl_module), pl_module.device, batch["A"] if self.segmentation.enabled else None)

    @override
    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._evaluate_batch(pl_module, batch, outputs, trainer.precision_plugin.val_step_context)

    @override
    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._evaluate_batch(pl_module, batch, outputs, trainer.precision_plugin.test_step_context)

    def update(
        self, pairs: Pairs, paired: bool, device: torch.device | str = "cpu", label_map: Tensor | None = None
    ) -> None:
        """Add one batch of ``{tag: (fake, real_target)}`` (images in [-1, 1], any float dtype).

        ``real_target`` may hold no image (a multi-domain method's batch without a real image of that domain):
        FID and KID count every image once over the whole split, whichever batch and rank it comes in.
        ``label_map``: the batch's input label maps, for the segmenter (``segmentation.configure`` first).
        """
        self.build(paired)
        device = torch.device(device)
        with (
            torch.autocast(device_type=device.type, enabled=False),
            torch.inference_mode(False),  # states stay normal tensors, whatever the eval loop's mode
            torch.no_grad(),
        ):
            for tag, (fake, real) in pairs.items():
                if (real is None) != (tag in self._targetless) and tag in self._metrics:
                    raise ValueError(f"evaluation_pairs gave real target images for direction {tag!r} only sometimes")
                if real is None:
                    directions.count_targetless(self._metrics, self._targetless, tag, fake.shape[0], device)
                    continue
                fake, real = fake.detach().to(device), real.detach().to(device)
                if tag not in self._metrics:
                    if self._features is not None and self._features.num_features is None:
                        self._features.to(device)
                        self._features(self._feature_input(fake))  # infers the feature size (FID needs it)
                    self._metrics[tag] = self._direction_metrics(paired)
                metrics = self._metrics[tag]
                if metrics["count"].device != device:
                    metrics.to(device)
                self._update_direction(tag, metrics, fake, real, paired)
            if label_map is not None:
                self.segmentation.update(pairs, label_map, device)

    def _feature_input(self, images: Tensor) -> Tensor:
        return to_unit(images) if self.feature_extractor is not None else to_uint8(to_rgb(images))

    def _update_direction(self, tag: str, metrics: nn.ModuleDict, fake: Tensor, real: Tensor, paired: bool) -> None:
        metrics["count"].update(fake.shape[0], real.shape[0])
        if self.fid or self.kid:
            assert self._features is not None
            fake_in, real_in = self._feature_input(fake), self._feature_input(real)
            for images, is_real in ((fake_in, False), (real_in, True)):
                for name in ("fid", "kid"):
                    if name in metrics:
                        metrics[name].update(images, real=is_real)  # the second call reuses the features
            self._features.clear()
        if not paired:
            return
        if fake.shape != real.shape:
            raise ValueError(
                f"paired metrics need aligned images of one shape, direction {tag!r} gave {tuple(fake.shape)} "
                f"and {tuple(real.shape)}"
            )
        if "lpips" in metrics:
            metrics["lpips"].update(to_lpips_input(to_rgb(fake)), to_lpips_input(to_rgb(real)))
        self.protocol.update(metrics, to_unit(fake), to_unit(real))

    # ---------------------------------------------------------------------------------------------- computing
    @override
    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._active:
            self._active = False
            self._log(trainer, pl_module, "val")

    @override
    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._active:
            self._active = False
            self._log(trainer, pl_module, "test")

    def _log(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        check_same_tags(trainer, sorted(self._metrics), stage)
        results = self.compute(device=pl_module.device)
        for key, value in results.items():
            pl_module.log(f"{stage}/{key}", value, sync_dist=False)
        self.results = {f"{stage}/{key}": value for key, value in results.items()}
        self.last_stage = stage
        if results:
            counts = ", ".join(f"{tag or 'images'}: {n}" for tag, n in self.num_images.items())
            values = "  ".join(f"{key} {value:.4f}" for key, value in results.items())
            rank_zero_info(f"{stage} metrics ({counts}): {values}")

    def compute(self, device: torch.device | str = "cpu") -> dict[str, float]:
        """Compute every metric of every direction (collective under DDP: call on all ranks), then reset.

        Returns:
            ``{"fid": ..., "kid": ..., ...}`` for tag ``""``, ``{"fid_ab": ..., "fid_ba": ...}`` for other tags.
            Also sets :attr:`num_images` (``{tag: number of generated images}``).
        """
        results: dict[str, float] = {}
        self.num_images = {}
        device = torch.device(device)
        with torch.autocast(device_type=device.type, enabled=False), torch.inference_mode(False), torch.no_grad():
            for tag in sorted(self._metrics):
                self.num_images[tag], values = compute_direction(self._metrics[tag], tag, self.kid_subset_size)
                results.update(values)
            results.update(self.segmentation.compute())
        self._reset()
        return results

    def _reset(self) -> None:
        with torch.inference_mode(False):
            for metrics in self._metrics.values():
                for metric in metrics.values():
                    metric.reset()
            self.segmentation.reset()
        if self._features is not None:
            self._features.clear()


def _is_paired(pl_module: LightningModule) -> bool:
    return bool(getattr(pl_module, "paired", False))


__all__ = [
    "ImageCount",
    "LPIPSMean",
    "METRIC_NAMES",
    "SharedFeatures",
    "TranslationMetrics",
    "ValueRange",
    "build_inception",
    "build_lpips_net",
    "sampler_problem",
    "to_lpips_input",
    "to_rgb",
    "to_uint8",
    "to_unit",
]
