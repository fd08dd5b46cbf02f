"""``lit-translate predict --engine onnx --model FILE``: an exported ONNX file as the method of a predict run.

:class:`OnnxEngine` is a :class:`~lit_translate.methods.TranslationModule` whose ``translate`` runs the file
with onnxruntime, so ``predict`` reads the DataModule's predict folder and writes with the same
:class:`~lit_translate.callbacks.TranslationWriter` (sub-folders, tiling, targets) as the PyTorch model. The
engine keeps the file's ``size_divisor``, so tiles are laid out as for the PyTorch model (the graph's own
padding is then a no-op).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lit_translate.export.formats import read_metadata, require_onnxruntime
from lit_translate.methods.base import TranslationModule
from lit_translate.methods.types import Latent, Target


class OnnxNet(nn.Module):
    """An onnxruntime session as a module: ``forward(*inputs)`` in the file's input order."""

    def __init__(self, path: str, scale: int, size_divisor: int) -> None:
        super().__init__()
        ort = require_onnxruntime()
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]
        self.size_divisor, self.scale = size_divisor, scale

    def forward(self, *inputs: Tensor) -> Tensor:
        """Run the session on ``inputs`` (CPU numpy); return the output on the first input's device."""
        feeds = {n: np.ascontiguousarray(t.detach().cpu().numpy()) for n, t in zip(self.names, inputs)}
        return torch.from_numpy(self.session.run(None, feeds)[0]).to(inputs[0].device)


class OnnxEngine(TranslationModule):
    """Predict with an exported ONNX file (see the module docstring).

    Args:
        path: the ``.onnx`` file written by ``lit-translate export``.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.metadata: dict[str, Any] = read_metadata(Path(path))
        self.net = OnnxNet(path, int(self.metadata["scale"]), int(self.metadata["size_divisor"]))
        self.inference_mode = self.metadata["inference_mode"]
        z = self.metadata["inputs"].get("z")
        self.latent_dim = int(z.split("(N, ")[1].split(")")[0]) if z else None

    @property
    def targets(self) -> tuple[str, ...]:
        """Return the exported target (a StarGAN file exported with a label input: none)."""
        target = self.metadata.get("target")
        return (str(target),) if target is not None else ()

    def generator_for(self, target: Target) -> nn.Module:
        """Return the session module."""
        return self.net

    def translate(self, x: Tensor, target: Target = None, z: Latent = None) -> Tensor:
        """Run the file on ``x`` (label maps: their int ids) with the codes ``z`` of a multimodal file."""
        x = x.long() if "label map" in self.metadata["inputs"]["x"] else x.float()
        if self.latent_dim is None:
            return self.net(x)
        return self.net(x, self.resolve_latent(z, x.shape[0], x.device, torch.float32))

    def configure_optimizers(self) -> Any:
        """Return no optimizer: an engine only predicts."""
        return None


__all__ = ["OnnxEngine", "OnnxNet"]
