"""Evaluation reports: ``metrics.json`` and ``report.md`` next to the run, written after ``lit-translate test``."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torchvision.utils import save_image
from typing_extensions import override

from lit_translate.callbacks.images import first_items, render_visuals
from lit_translate.evaluation.metrics import TranslationMetrics
from lit_translate.evaluation.sr_metrics import PSNRProtocol

_DESCRIPTIONS = {
    "fid": "Fréchet Inception Distance (lower is better; biased upwards for small N)",
    "kid": "Kernel Inception Distance, unbiased MMD² (lower is better)",
    "lpips": "LPIPS to the aligned target (lower is better)",
    "psnr": "PSNR in dB, RGB, mean over images (higher is better)",
    "ssim": "SSIM, RGB, mean over images (higher is better)",
    "psnr_y": "PSNR in dB, Y channel (BT.601, MATLAB rgb2ycbcr), mean over images (higher is better)",
    "ssim_y": "SSIM, Y channel (BT.601, MATLAB rgb2ycbcr), mean over images (higher is better)",
    "miou": "mean IoU of the segmenter on the generated images against the input label maps (higher is better)",
    "pixel_acc": "pixel accuracy of the segmenter on the generated images against the input label maps",
    "l1": "mean absolute error to the aligned target, images in [-1, 1] (lower is better)",
    "l1_input": "the do-nothing baseline: L1 of the input itself to the target",
    "cycle_a": "cycle-consistency L1 of A -> B -> A, images in [-1, 1] (lower is better)",
    "cycle_b": "cycle-consistency L1 of B -> A -> B, images in [-1, 1] (lower is better)",
}
_WEIGHT_ROLES = {"features": "FID/KID network", "lpips": "LPIPS backbone", "segmenter": "segmenter (mIoU)"}
_OWN_FILES = {"segmenter"}
"""Roles whose file is the user's own (no registry): compare their scores only with the same file."""
DEFAULT_PROTOCOL = PSNRProtocol().describe()


def _describe(key: str, tags: dict[str, str] | None = None) -> str:
    """Describe metric ``key``; ``tags``: the method's extra tags and what they score (``metric_tags``)."""
    name = key.split("/", 1)[-1]
    if name in _DESCRIPTIONS:
        return _DESCRIPTIONS[name]
    base = max((known for known in _DESCRIPTIONS if name.startswith(f"{known}_")), key=len, default="")
    tag = name[len(base) + 1 :]
    if not base:
        return ""
    if tags and tag in tags:  # a tag the method names (TranslationModule.metric_tags), e.g. a baseline
        return f"{_DESCRIPTIONS[base]}; of {tags[tag]}"
    return f"{_DESCRIPTIONS[base]}; direction {tag}"


def _json_number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)  # JSON has no inf/nan


def write_report(
    out_dir: str | Path,
    metrics: dict[str, float],
    num_images: dict[str, int] | int,
    inference_mode: str,
    checkpoint: str | None,
    config: dict | str | None,
    split: str,
    step: int | None = None,
    samples: tuple[Tensor, str] | None = None,
    weights: dict[str, dict[str, Any]] | None = None,
    protocol: str | None = None,
    tags: dict[str, str] | None = None,
) -> tuple[Path, Path]:
    """Write ``metrics.json`` and ``report.md`` (and ``samples.png``) into ``out_dir`` (created).

    Args:
        out_dir: destination folder.
        metrics: ``{name: value}``, e.g. ``{"test/fid": 120.3, "test/kid": 0.012}``.
        num_images: evaluated images, per direction tag (``{"": 106}``, ``{"ab": 120, "ba": 140}``) or one int.
        inference_mode: the generator's inference mode (``"eval"`` or ``"train"``).
        checkpoint: the evaluated checkpoint (None: the weights in memory).
        config: the run config as a dict or YAML text (None: unknown).
        split: the evaluated split (``"test"``, ``"val"``).
        step: the checkpoint's training step (iterations), when known.
        samples: ``(grid, caption)``: a sample grid ``(3, H, W)`` in [0, 1] (one row per image, the columns named
            by ``caption``, e.g. ``"input | output | target"``), saved as ``samples.png``.
        weights: the metric networks' files by role (``"features"``, ``"lpips"``, ``"segmenter"``), as
            :func:`~lit_translate.pretrained.weights.describe_file` gives them.
        protocol: the PSNR/SSIM convention used (``PSNRProtocol.describe()``); None = the translation default.
        tags: the method's extra metric tags and what each scores (``TranslationModule.metric_tags``, e.g. an
            SR method's upsampling baseline); other tags are directions. Default: None.

    Returns:
        ``(metrics.json path, report.md path)``.
    """
    (out := Path(out_dir)).mkdir(parents=True, exist_ok=True)
    if samples is not None:
        save_image(samples[0], out / "samples.png")
    config_data, config_text = _config_forms(config)
    record = {
        "split": split,
        "metrics": {key: _json_number(float(value)) for key, value in metrics.items()},
        "num_images": num_images,
        "inference_mode": inference_mode,
        "checkpoint": checkpoint,
        "step": step,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "samples": {"file": "samples.png", "columns": samples[1]} if samples is not None else None,
        "weights": weights or {},
        "protocol": protocol or DEFAULT_PROTOCOL,
        "config": config_data,
    }
    json_path = out / "metrics.json"
    json_path.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    lines = [*_summary_lines(record), *_metric_lines(metrics, record["weights"], tags or {})]
    lines += _tail_lines(record, config_text)
    md_path = out / "report.md"
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return json_path, md_path


def _config_forms(config: dict | str | None) -> tuple[Any, str | None]:
    """Return the config as data for ``metrics.json`` (a dict when it parses) and as YAML text for the report."""
    if not isinstance(config, str):
        return config, yaml.safe_dump(config, sort_keys=False) if config is not None else None
    try:
        parsed = yaml.safe_load(config)
    except yaml.YAMLError:
        parsed = None
    return (parsed if isinstance(parsed, dict) else config), config


def _summary_lines(record: dict[str, Any]) -> list[str]:
    """Return the title and the table of what was evaluated (split, images, mode, checkpoint, weights)."""
    num_images = record["num_images"]
    if isinstance(num_images, dict):
        counts = ", ".join(f"{tag}: {n}" if tag else str(n) for tag, n in num_images.items()) or "0"
    else:
        counts = str(num_images)
    step = record["step"]
    lines = [
        f"# Evaluation report: {record['split']} split",
        "",
        "| | |",
        "|---|---|",
        f"| split | {record['split']} |",
        f"| images | {counts} |",
        f"| inference mode | {record['inference_mode']} |",
        f"| checkpoint | {record['checkpoint'] or '(weights in memory)'} |",
        f"| step | {step if step is not None else 'unknown'} |",
        f"| created (UTC) | {record['created']} |",
    ]
    for role, info in record["weights"].items():
        status = "registered file" if info.get("registered") else "CUSTOM, not the registered file"
        status = "your file: compare only with the same segmenter" if role in _OWN_FILES else status
        digest = f"sha256 {str(info['sha256'])[:12]}..., " if info.get("sha256") else ""
        lines.append(f"| {_WEIGHT_ROLES.get(role, role)} | {info['name']}: {info['file']} ({digest}{status}) |")
    return lines


def _metric_lines(metrics: dict[str, float], weights: dict[str, dict[str, Any]], tags: dict[str, str]) -> list[str]:
    """Return the metrics table, with a banner when the metric networks are not the registered files."""
    lines = ["", "## Metrics", ""]
    if any(not info.get("registered") for role, info in weights.items() if role not in _OWN_FILES):
        lines += [
            "**Custom metric networks** (see the table above): FID/KID/LPIPS values are not comparable with "
            "published numbers.",
            "",
        ]
    lines += ["| metric | value | meaning |", "|---|---:|---|"]
    lines += [f"| {key} | {float(value):.6g} | {_describe(key, tags)} |" for key, value in sorted(metrics.items())]
    if not metrics:
        lines.append("| (none logged) | | |")
    return lines


def _tail_lines(record: dict[str, Any], config_text: str | None) -> list[str]:
    """Return the protocol note, the sample grid and the config."""
    lines = [
        "",
        "Protocol: docs/evaluation.md (all images of the split at the recipe's evaluation size; FID/KID against the "
        f"real target-domain images of the same split; {record['protocol']}).",
        "",
    ]
    samples = record["samples"]
    if samples is not None:
        columns = samples["columns"]
        lines += ["## Samples", "", f"The first images of the split, one per row: {columns}.", ""]
        lines += ["![samples](samples.png)", ""]
    lines += ["## Config", ""]
    lines += ["```yaml", config_text.rstrip(), "```"] if config_text else ["(no config recorded)"]
    return lines


class EvaluationReport(Callback):
    """After ``trainer.test`` (and a standalone ``trainer.validate``), write ``metrics.json`` and ``report.md``.

    The files go to ``<default_root_dir>/eval/<split>-step<checkpoint step>-<UTC time>/`` and hold every logged
    ``test/...`` (``val/...``) metric, the number of images (from :class:`TranslationMetrics` when present, else
    the dataset length), the model's ``inference_mode``, ``trainer.ckpt_path`` and the run's ``config.yaml``, and
    ``samples.png``: ``pl_module.visuals`` of the first ``num_samples`` images of the split. Written by global
    rank 0 only; the paths are printed and kept in :attr:`last_paths`.

    Args:
        enabled: write reports. Default: True.
        num_samples: rows of the sample grid (0: no grid). Default: 8.
    """

    def __init__(self, enabled: bool = True, num_samples: int = 8) -> None:
        if num_samples < 0:
            raise ValueError(f"num_samples must be >= 0, got {num_samples}")
        self.enabled = enabled
        self.num_samples = num_samples
        self.last_paths: tuple[Path, Path] | None = None
        self._checkpoint_step: int | None = None

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._checkpoint_step = None

    @override
    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        # test/validate restore weights but not the loops: trainer.global_step would read 0
        step = checkpoint.get("global_step")
        self._checkpoint_step = int(step) if step is not None else None

    @override
    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._write(trainer, pl_module, "test")

    @override
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.state.fn == TrainerFn.VALIDATING and not trainer.sanity_checking:
            self._write(trainer, pl_module, "val")

    def _write(self, trainer: Trainer, pl_module: LightningModule, split: str) -> None:
        if not self.enabled:
            return
        samples = None
        if self.num_samples and callable(getattr(pl_module, "visuals", None)):
            loaders = trainer.test_dataloaders if split == "test" else trainer.val_dataloaders
            samples = render_visuals(pl_module, first_items(loaders, self.num_samples))  # every rank: may sync
        if not trainer.is_global_zero:
            return
        prefix = f"{split}/"
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(prefix)}
        root = Path(trainer.default_root_dir)
        config_file = root / "config.yaml"
        config = config_file.read_text(encoding="utf-8") if config_file.is_file() else None
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        step = self._checkpoint_step if self._checkpoint_step is not None else trainer.global_step
        out_dir = root / "eval" / f"{split}-step{step:07d}-{stamp}"
        self.last_paths = write_report(
            out_dir,
            metrics=metrics,
            num_images=_num_images(trainer, split),
            inference_mode=str(getattr(pl_module, "inference_mode", "unknown")),
            checkpoint=str(trainer.ckpt_path) if trainer.ckpt_path else None,
            config=config,
            split=_split_name(trainer, split),
            step=step,
            samples=samples,
            weights=_weight_files(trainer),
            protocol=_protocol(trainer),
            tags=dict(getattr(pl_module, "metric_tags", {})),
        )
        rank_zero_info(f"Evaluation report: {self.last_paths[1]}\n  metrics:  {self.last_paths[0]}")


def _split_name(trainer: Trainer, stage: str) -> str:
    """Return the name of the evaluated split: the DataModule's (``--data.test_split val``: ``val``), else ``stage``.

    Reads ``splits`` (and ``has_split`` for the validation fallback to the test split) of a
    :class:`~lit_translate.data.base.TranslationDataModule`; DataModules without them report the stage.
    """
    datamodule = trainer.datamodule
    splits = getattr(datamodule, "splits", None)
    if not isinstance(splits, dict):
        return stage
    name = splits.get(stage)
    if name is None and stage == "val" and getattr(datamodule, "root", None) is not None:
        try:  # TranslationDataModule.split_name's fallback to the test split, without its warning
            name = "val" if datamodule.has_split("val") else splits.get("test")
        except (ValueError, OSError, TypeError):
            return stage
    return str(name or stage)


def _weight_files(trainer: Trainer) -> dict[str, dict[str, Any]]:
    metrics = [cb for cb in trainer.callbacks if isinstance(cb, TranslationMetrics) and cb.enabled]
    return dict(metrics[0].weight_files) if metrics else {}


def _protocol(trainer: Trainer) -> str | None:
    metrics = [cb for cb in trainer.callbacks if isinstance(cb, TranslationMetrics) and cb.enabled]
    return metrics[0].protocol.describe() if metrics else None


def _num_images(trainer: Trainer, split: str) -> dict[str, int] | int:
    for callback in trainer.callbacks:
        if isinstance(callback, TranslationMetrics) and callback.last_stage == split and callback.num_images:
            return dict(callback.num_images)
    loaders = trainer.test_dataloaders if split == "test" else trainer.val_dataloaders
    loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
    total = 0
    for loader in loaders:
        try:
            total += len(loader.dataset)
        except (AttributeError, TypeError):
            continue
    return total


__all__ = ["EvaluationReport", "write_report"]
