"""The entries of the pretrained-file registry: every file lit_translate may load, its source and checksum.

Data only; :mod:`lit_translate.pretrained.weights` finds, verifies and downloads them (and re-exports these names).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WeightsFile:
    """One pretrained file.

    Attributes:
        name: registry key (``"inception"``, ``"alexnet"``, ...).
        filename: the file name in the torch.hub cache (as the upstream URL names it).
        url: where it is downloaded from.
        sha256_prefix: the hash prefix embedded in ``filename`` (what ``torch.hub`` checks).
        sha256: the full sha256 when known, else None (only the prefix is verified).
        size: size in bytes when known.
        used_by: what needs it.
        config_key: the lit-translate option that passes a local copy.
    """

    name: str
    filename: str
    url: str
    sha256_prefix: str
    sha256: str | None
    size: int | None
    used_by: str
    config_key: str


WEIGHTS: dict[str, WeightsFile] = {
    spec.name: spec
    for spec in (
        WeightsFile(
            name="inception",
            filename="weights-inception-2015-12-05-6726825d.pth",
            url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
            "weights-inception-2015-12-05-6726825d.pth",
            sha256_prefix="6726825d",
            sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
            size=95_628_359,
            used_by="FID and KID (torch-fidelity's InceptionV3, 2048-d pool features)",
            config_key="--metrics.inception_weights",
        ),
        WeightsFile(
            name="alexnet",
            filename="alexnet-owt-7be5be79.pth",
            url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            sha256_prefix="7be5be79",
            sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
            size=244_408_911,
            used_by="LPIPS backbone, lpips_net='alex' (torchvision AlexNet_Weights.IMAGENET1K_V1)",
            config_key="--metrics.lpips_backbone_weights",
        ),
        WeightsFile(
            name="vgg16",
            filename="vgg16-397923af.pth",
            url="https://download.pytorch.org/models/vgg16-397923af.pth",
            sha256_prefix="397923af",
            sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
            size=553_433_881,
            used_by="perceptual losses, VGGFeatures arch='vgg16', and LPIPS backbone, lpips_net='vgg' "
            "(torchvision VGG16_Weights.IMAGENET1K_V1)",
            config_key="--model.init_args.vgg_weights (losses) or --metrics.lpips_backbone_weights (LPIPS)",
        ),
        WeightsFile(
            name="vgg19",
            filename="vgg19-dcbb9e9d.pth",
            url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
            sha256_prefix="dcbb9e9d",
            sha256=None,  # no reliable full digest found; the file name's prefix is verified
            size=None,
            used_by="perceptual losses, VGGFeatures arch='vgg19' (torchvision VGG19_Weights.IMAGENET1K_V1)",
            config_key="--model.init_args.vgg_weights",
        ),
        WeightsFile(
            name="squeezenet1_1",
            filename="squeezenet1_1-b8a52dc0.pth",
            url="https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
            sha256_prefix="b8a52dc0",
            sha256=None,
            size=None,
            used_by="LPIPS backbone, lpips_net='squeeze' (torchvision SqueezeNet1_1_Weights.IMAGENET1K_V1)",
            config_key="--metrics.lpips_backbone_weights",
        ),
    )
}

LPIPS_BACKBONES: dict[str, str] = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}
"""LPIPS ``net_type`` -> registry key of its ImageNet backbone."""

LPIPS_LINEAR_SHA256: dict[str, str] = {
    "alex": "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    "vgg": "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
    "squeeze": "4a5350f23600cb79923ce65bb07cbf57dca461329894153e05a1346bd531cf76",
}
"""sha256 of the LPIPS v0.1 linear layers (lpips 0.1.4 ``weights/v0.1/<net>.pth``), which torchmetrics ships in
``torchmetrics/functional/image/lpips_models/``; they are checked, never downloaded."""


__all__ = ["LPIPS_BACKBONES", "LPIPS_LINEAR_SHA256", "WEIGHTS", "WeightsFile"]
