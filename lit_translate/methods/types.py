"""The type aliases of the method contract (a leaf: it imports nothing from the package).

``methods/base.py`` (the contract) and the bases it inherits from (``parts/inference.py``, ``parts/plumbing.py``)
all speak of targets, evaluation pairs and inference modes; keeping the names here lets each of them import the names
without importing the others. ``lit_translate.methods.base`` re-exports all of them.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor

Pairs = dict[str, tuple[Tensor, Tensor | None]]
"""``evaluation_pairs`` output: ``{tag: (generated images, real target-domain images or None)}``."""

Target = str | Tensor | None
"""What to translate into: a named target of ``TranslationModule.targets`` (a direction such as ``"AtoB"``,
a domain name), a label tensor for label-conditioned methods, or None for the method's first target."""

InferenceMode = Literal["eval", "train"]
"""How inference runs: ``"eval"``, or ``"train"`` (dropout and batch statistics on, as in the pix2pix paper)."""

INFERENCE_MODES = ("eval", "train")

Latent = int | Tensor | None
"""The latent code of a multimodal method's ``translate``: None (the seed-0 draw from N(0, I)), an int seed, a code
tensor ``(N, latent_dim)`` / ``(latent_dim,)``, or a reference (style) image ``(N, C, H, W)`` to encode."""

__all__ = ["INFERENCE_MODES", "InferenceMode", "Latent", "Pairs", "Target"]
