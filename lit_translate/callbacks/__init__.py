"""Callbacks: sample grids, checkpoints, prediction writer, DDP sync check."""

from lit_translate.callbacks.checkpoint import RunCheckpoint
from lit_translate.callbacks.images import SampleGrid, to_grid
from lit_translate.callbacks.sync import RankSyncCheck, parameter_fingerprint
from lit_translate.callbacks.writer import TranslationWriter

__all__ = ["RankSyncCheck", "RunCheckpoint", "SampleGrid", "TranslationWriter", "parameter_fingerprint", "to_grid"]
