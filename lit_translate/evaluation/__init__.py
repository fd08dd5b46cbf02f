"""Evaluation: FID/KID/LPIPS/PSNR/SSIM callback, reports, and the pretrained-weights registry.

See ``docs/evaluation.md`` for the protocol. ``python -m lit_translate.evaluation fetch --dir DIR`` pre-fetches the
pretrained files for offline machines. Names are imported lazily, so that the fetch command does not import
Lightning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "metrics": [
        "LPIPSMean",
        "SharedFeatures",
        "TranslationMetrics",
        "build_inception",
        "build_lpips_net",
        "to_lpips_input",
        "to_rgb",
        "to_uint8",
        "to_unit",
    ],
    "report": ["EvaluationReport", "write_report"],
    "standins": ["random_alexnet_features_state", "random_inception_state"],
    "weights": [
        "WEIGHTS",
        "WeightsChecksumError",
        "WeightsFile",
        "WeightsUnavailableError",
        "fetch",
        "resolve_weights",
    ],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

if TYPE_CHECKING:
    from lit_translate.evaluation.metrics import (
        LPIPSMean,
        SharedFeatures,
        TranslationMetrics,
        build_inception,
        build_lpips_net,
        to_lpips_input,
        to_rgb,
        to_uint8,
        to_unit,
    )
    from lit_translate.evaluation.report import EvaluationReport, write_report
    from lit_translate.pretrained.standins import random_alexnet_features_state, random_inception_state
    from lit_translate.pretrained.weights import (
        WEIGHTS,
        WeightsChecksumError,
        WeightsFile,
        WeightsUnavailableError,
        fetch,
        resolve_weights,
    )


def __getattr__(name: str) -> Any:
    """Import ``name`` from its submodule on first use."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "EvaluationReport",
    "LPIPSMean",
    "SharedFeatures",
    "TranslationMetrics",
    "WEIGHTS",
    "WeightsChecksumError",
    "WeightsFile",
    "WeightsUnavailableError",
    "build_inception",
    "build_lpips_net",
    "fetch",
    "random_alexnet_features_state",
    "random_inception_state",
    "resolve_weights",
    "to_lpips_input",
    "to_rgb",
    "to_uint8",
    "to_unit",
    "write_report",
]
