"""The methods' default optimizers, in one place: each paper's Adam setting, used when a config gives none.

A method passes one of these to ``build_optimizer(factory or <default>, params)``; a method never imports
another method's module for its default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn


def paper_adam(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """Adam with lr 2e-4 and betas (0.5, 0.999), the pix2pix / CycleGAN paper setting."""
    return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))


def stargan_adam(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """Adam with lr 1e-4 and betas (0.5, 0.999), StarGAN's setting for G and D."""
    return torch.optim.Adam(params, lr=1e-4, betas=(0.5, 0.999))


def johnson_adam(params: Any) -> torch.optim.Optimizer:
    """Adam with lr 1e-3 and PyTorch's default betas (0.9, 0.999), the pytorch/examples setting (Johnson et al.)."""
    return torch.optim.Adam(params, lr=1e-3)


def basicsr_adam(lr: float) -> Callable[[Any], torch.optim.Optimizer]:
    """Return an Adam factory with BasicSR's SR betas (0.9, 0.99) and learning rate ``lr``."""
    return lambda params: torch.optim.Adam(params, lr=lr, betas=(0.9, 0.99))


def adam(lr: float, betas: tuple[float, float]) -> Callable[[Any], torch.optim.Optimizer]:
    """Return an Adam factory with ``lr`` and ``betas`` (SPADE's TTUR: G 1e-4 / D 4e-4, betas (0, 0.9))."""
    return lambda params: torch.optim.Adam(params, lr=lr, betas=betas)


__all__ = ["adam", "basicsr_adam", "johnson_adam", "paper_adam", "stargan_adam"]
