"""Write translated images of ``lit-translate predict`` to a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.data.io import save_image
from lit_translate.methods.base import INFERENCE_MODES


class TranslationWriter(BasePredictionWriter):
    """Save every translated image as ``<output_dir>/<input stem>.png`` (lossless, same size as the input).

    Args:
        output_dir: destination folder (created); None disables writing. Default: None.
        direction: ``"AtoB"`` or ``"BtoA"`` (unpaired methods translate either way). Default: ``"AtoB"``.
        overwrite: replace existing files in ``output_dir``. Default: False.
        inference_mode: ``"eval"`` or ``"train"`` to override the model's inference mode (None keeps the
            checkpoint's). Default: None.
        tile: translate in tiles of this many input pixels (memory bounded by the tile size; see
            ``TranslationModule.translate_any_size``); None translates whole images. Default: None.
        tile_overlap: input pixels shared by neighbouring tiles. Default: 32.
    """

    def __init__(
        self,
        output_dir: str | None = None,
        direction: str = "AtoB",
        overwrite: bool = False,
        inference_mode: str | None = None,
        tile: int | None = None,
        tile_overlap: int = 32,
    ) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = output_dir
        self.direction = direction
        self.overwrite = overwrite
        self.inference_mode = inference_mode
        self.tile, self.tile_overlap = tile, tile_overlap
        self.written = 0

    @override
    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.output_dir is None:
            raise ValueError("predict needs an output folder: pass --predict_writer.output_dir DIR")
        check_choice("--predict_writer.direction", self.direction, pl_module.targets)
        pl_module.predict_target = self.direction
        pl_module.set_predict_tiling(self.tile, self.tile_overlap)
        if self.inference_mode is not None:
            check_choice("--predict_writer.inference_mode", self.inference_mode, INFERENCE_MODES)
            pl_module.inference_mode = self.inference_mode
        Path(self.output_dir).mkdir(parents=True, exist_ok=True)

    @override
    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        prediction: Any,
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        assert self.output_dir is not None
        for image, source in zip(prediction["images"], prediction["paths"]):
            target = Path(self.output_dir) / f"{Path(source).stem}.png"
            if target.exists() and not self.overwrite:
                raise FileExistsError(
                    f"{target} exists (two inputs with the same name, or an earlier run); "
                    "pass --predict_writer.overwrite true or choose another --predict_writer.output_dir"
                )
            save_image(image, target)
            self.written += 1

    @override
    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        rank_zero_info(f"Wrote {self.written} translated images ({self.direction}) to {self.output_dir}")
