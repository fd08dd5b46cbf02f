"""The metric networks: torch-fidelity's InceptionV3 (FID/KID) and the LPIPS network, built from local files."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from typing_extensions import override

from lit_translate import compat
from lit_translate.choices import check_choice
from lit_translate.pretrained.check import Need
from lit_translate.pretrained.weights import LPIPS_BACKBONES, LPIPS_LINEAR_SHA256, file_sha256, resolve_weights


class SharedFeatures(nn.Module):
    """Wrap a feature network for several metrics: each image tensor goes through the network once.

    FID and KID both call their ``inception`` on the same tensor; the last result is reused while the input is
    the same tensor object (same version). Features are returned flattened as float64.

    Args:
        net: maps a batch to ``(N, D)`` features (or a tuple whose first item is).
        num_features: ``D`` when known (FID needs it before the first image); else set on first use.
    """

    def __init__(self, net: nn.Module, num_features: int | None = None) -> None:
        super().__init__()
        self.net = net
        self.num_features = num_features
        self._last: tuple[Tensor, int, Tensor] | None = None

    @override
    def forward(self, x: Tensor) -> Tensor:
        if x.shape[0] == 0 and self.num_features is not None:  # e.g. no real image of a domain in this batch
            return torch.zeros(0, self.num_features, dtype=torch.float64, device=x.device)
        version = -1 if x.is_inference() else x._version  # inference tensors cannot change in place anyway
        last = self._last
        if last is not None and last[0] is x and last[1] == version:
            return last[2]
        out = self.net(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        out = out.reshape(x.shape[0], -1).double()
        self._last = (x, version, out)
        if self.num_features is None:
            self.num_features = int(out.shape[1])
        return out

    def clear(self) -> None:
        """Forget the cached batch."""
        self._last = None


def build_inception(weights: str | None = None) -> nn.Module:
    """Build torch-fidelity's InceptionV3 (2048-d pool features, uint8 input) from the resolved weight file.

    The returned module's ``weights_file`` attribute is the file it was loaded from.

    Raises:
        WeightsUnavailableError: offline and not cached (see :func:`~lit_translate.evaluation.resolve_weights`).
    """
    from torchmetrics.image.fid import NoTrainInceptionV3

    path = resolve_weights("inception", weights)
    net = NoTrainInceptionV3(
        name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(path)
    )
    net.weights_file = path
    return net


_BACKBONE_KEY = re.compile(r"^(?:slice\d+|slices\.\d+)\.(\d+)\.(.+)$")


def build_lpips_net(net: str = "alex", backbone_weights: str | None = None) -> nn.Module:
    """Build torchmetrics' LPIPS network without any download.

    The LPIPS v0.1 linear layers come from the torchmetrics package (checked against their known sha256); the
    ImageNet backbone is built without weights (``pnet_rand=True``) and loaded from the file that
    :func:`~lit_translate.evaluation.resolve_weights` finds (a torchvision ``state_dict``: ``features.<i>.*``
    keys map to the LPIPS slices).

    Args:
        net: ``"alex"``, ``"vgg"`` or ``"squeeze"``.
        backbone_weights: explicit torchvision weight file; None = the torch.hub cache (or a download).

    Returns:
        The LPIPS module (eval mode, no gradients); ``net(img1, img2)`` takes float [-1, 1] RGB images. Its
        ``weights_file`` attribute is the backbone file it was loaded from.
    """
    from torchmetrics.functional.image import lpips as tm_lpips

    check_choice("lpips_net", net, LPIPS_BACKBONES)
    path = resolve_weights(LPIPS_BACKBONES[net], backbone_weights)
    linear = Path(tm_lpips.__file__).parent / "lpips_models" / f"{net}.pth"
    if linear.is_file() and file_sha256(linear) != LPIPS_LINEAR_SHA256[net]:
        warnings.warn(
            f"{linear} (LPIPS linear layers shipped by torchmetrics) differs from lpips v0.1; LPIPS values may not "
            "be comparable with published ones",
            stacklevel=2,
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    return lpips_from_state(net, state, path)


def lpips_from_state(net: str, state: dict[str, Tensor], path: Path | str = "<state dict>") -> nn.Module:
    """Build the LPIPS network ``net`` with the backbone of a torchvision ``state`` (``features.<i>.*`` keys).

    :func:`build_lpips_net` reads ``state`` from the resolved file; a stand-in state
    (``pretrained/standins.py:random_alexnet_features_state``) gives the offline LPIPS of demos and tests.
    """
    model = compat.lpips_network(net)  # linear layers loaded, backbone random
    mapped = {}
    for key in model.net.state_dict():
        match = _BACKBONE_KEY.match(key)
        source = f"features.{match[1]}.{match[2]}" if match else key
        if source not in state:
            raise ValueError(
                f"{path} is not a torchvision {LPIPS_BACKBONES[net]} state_dict: it has no {source!r} "
                f"(needed for LPIPS net {net!r})"
            )
        mapped[key] = state[source]
    model.net.load_state_dict(mapped, strict=True)
    model.weights_file = path
    return model.eval().requires_grad_(False)


def metric_needs(metrics: Any, paired: bool) -> list[Need]:
    """Return the pretrained files ``metrics`` (a ``TranslationMetrics``) still has to load for its networks.

    InceptionV3 for FID/KID (unless a custom ``feature_extractor`` replaces it) and, for paired methods, the
    LPIPS backbone, and the segmenter file of ``--metrics.segmenter``; what is already built is not listed.
    """
    needs = []
    if (metrics.fid or metrics.kid) and metrics._features is None and metrics.feature_extractor is None:
        needs.append(Need("inception", metrics.inception_weights, "--metrics.inception_weights"))
    if paired and metrics.lpips and metrics._lpips_model is None:
        backbone = LPIPS_BACKBONES[metrics.lpips_net]
        needs.append(Need(backbone, metrics.lpips_backbone_weights, "--metrics.lpips_backbone_weights"))
    return needs + metrics.segmentation.needs()


def num_features_of(net: nn.Module) -> int | None:
    """Return ``net.num_features`` when it is declared (custom FID/KID extractors), else None."""
    value = getattr(net, "num_features", None)
    return int(value) if isinstance(value, (int, Tensor)) else None


__all__ = ["SharedFeatures", "build_inception", "build_lpips_net", "metric_needs", "num_features_of"]
