"""Speed options that change how the networks run, never what they compute: memory format, compilation, TF32.

Every option is off by default except where a measurement says it wins (``docs/benchmarks.md``); each works for
every method because it acts on the module's networks (its child modules that hold parameters), not on a
method's code. Compilation and channels-last apply to the networks *in place* (``nn.Module.compile()``), so
``state_dict`` keys never gain ``_orig_mod.`` and checkpoints stay interchangeable with eager runs.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from typing_extensions import override

CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]


def networks(pl_module: LightningModule) -> dict[str, nn.Module]:
    """Return the module's direct children that hold parameters: its networks and their EMA copies.

    Frozen loss networks (``VGGFeatures``) hold buffers only and are left alone: they run in float32, eager.
    """
    return {name: child for name, child in pl_module.named_children() if any(True for _ in child.parameters())}


def to_channels_last(batch: Any) -> Any:
    """Convert the 4-D tensors of a batch dict to channels-last memory format (other values unchanged)."""
    if isinstance(batch, dict):
        for key, value in batch.items():
            if isinstance(value, Tensor) and value.ndim == 4:
                batch[key] = value.contiguous(memory_format=torch.channels_last)
    return batch


class SpeedOptions(Callback):
    """Apply the speed options of a run (``--speed.*``).

    Args:
        channels_last: store the networks' weights and the batches' images channels-last (NHWC). Convolutions
            run faster in NHWC on recent GPUs (tensor cores) and with oneDNN on some CPUs. Default: False.
        compile: ``torch.compile`` each network in place (``nn.Module.compile``; never the whole LightningModule,
            which Lightning 2.6 cannot handle with manual optimization and toggling). Default: False.
        compile_mode: ``torch.compile`` mode; ``"reduce-overhead"`` and ``"max-autotune"`` use CUDA graphs,
            which overwrite outputs that CycleGAN's image pools keep (experimental). Default: ``"default"``.
        compile_backend: ``torch.compile`` backend (``"inductor"``; ``"aot_eager"`` in tests). Default:
            ``"inductor"``.
        tf32: on CUDA, let float32 matrix multiplications and convolutions use TF32 tensor cores
            (``torch.set_float32_matmul_precision("high")``; 10-bit mantissa in the products, float32
            accumulation). Ignored on CPU. Default: True.
        cudnn_benchmark: on CUDA, let cuDNN pick the fastest convolution algorithms for the (fixed) training
            shapes. Ignored on CPU. Default: True.
    """

    def __init__(
        self,
        channels_last: bool = False,
        compile: bool = False,
        compile_mode: CompileMode = "default",
        compile_backend: str = "inductor",
        tf32: bool = True,
        cudnn_benchmark: bool = True,
    ) -> None:
        self.channels_last = channels_last
        self.compile = compile
        self.compile_mode = compile_mode
        self.compile_backend = compile_backend
        self.tf32 = tf32
        self.cudnn_benchmark = cudnn_benchmark
        self._applied = False

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if pl_module.device.type == "cuda" or trainer.accelerator.__class__.__name__ == "CUDAAccelerator":
            if self.tf32:
                torch.set_float32_matmul_precision("high")
            torch.backends.cudnn.benchmark = self.cudnn_benchmark
        if self._applied or not (self.channels_last or self.compile):
            return
        self._applied = True
        nets = networks(pl_module)
        for net in nets.values():
            if self.channels_last:
                net.to(memory_format=torch.channels_last)
            if self.compile:
                net.compile(
                    mode=None if self.compile_mode == "default" else self.compile_mode, backend=self.compile_backend
                )
        applied = [name for name, on in (("channels_last", self.channels_last), ("compile", self.compile)) if on]
        rank_zero_info(f"Speed options {', '.join(applied)} applied to {', '.join(nets)}")

    @override
    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        if self.channels_last:
            to_channels_last(batch)

    @override
    def on_validation_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.channels_last:
            to_channels_last(batch)


__all__ = ["CompileMode", "SpeedOptions", "networks", "to_channels_last"]
