"""Callbacks: sample grids, checkpoints, pre-emption, prediction writer, DDP sync check, GPU expectation, speed."""

from lit_translate.callbacks.checkpoint import AtomicCheckpointIO, RunCheckpoint
from lit_translate.callbacks.environment import EnvironmentCheck
from lit_translate.callbacks.images import SampleGrid, to_grid
from lit_translate.callbacks.preemption import Preemption
from lit_translate.callbacks.speed import SpeedOptions
from lit_translate.callbacks.sync import RankSyncCheck, parameter_fingerprint
from lit_translate.callbacks.writer import TranslationWriter

__all__ = [
    "AtomicCheckpointIO",
    "EnvironmentCheck",
    "Preemption",
    "RankSyncCheck",
    "RunCheckpoint",
    "SampleGrid",
    "SpeedOptions",
    "TranslationWriter",
    "parameter_fingerprint",
    "to_grid",
]
