"""Random-weight stand-ins for the pretrained metric networks, in the real files' layouts.

For offline smoke tests and benchmarks only: an InceptionV3 (FID/KID) and an AlexNet (LPIPS backbone) state dict
that load exactly where the real files do (``--metrics.inception_weights``, ``--metrics.lpips_backbone_weights``)
and cost exactly as much to run, but whose numbers mean nothing. Save them under a name other than the registry's
file name: lit_translate then treats them as custom weights (with a warning) instead of failing the checksum.

A plain random initialisation is not enough for InceptionV3: with BatchNorm's default statistics (mean 0,
variance 1) the activations shrink layer after layer and the 2048-d features come out around 1e-8, so every
FID is 0. :func:`random_inception_state` therefore sets each BatchNorm's statistics from a forward pass over
random images (data-dependent initialisation), which keeps the features from vanishing (FID then comes out
large and meaningless, rather than 0).
"""

from __future__ import annotations

import torch
from torch import nn


def random_inception_state(seed: int = 0, calibration_images: int = 16) -> dict[str, torch.Tensor]:
    """Return a random torch-fidelity ``FeatureExtractorInceptionV3`` state dict with calibrated BatchNorms.

    Args:
        seed: seed of the weights and of the calibration images. Default: 0.
        calibration_images: random uint8 images used to set the BatchNorm statistics. Default: 16.

    Returns:
        A state dict in the layout of ``weights-inception-2015-12-05-6726825d.pth``.
    """
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

    original = (tf_inception.load_state_dict_from_url, nn.Module.load_state_dict)
    tf_inception.load_state_dict_from_url = lambda *args, **kwargs: {}  # build the network without any weights
    nn.Module.load_state_dict = lambda self, *args, **kwargs: None
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
            images = torch.randint(0, 256, (calibration_images, 3, 299, 299), dtype=torch.uint8)
    finally:
        tf_inception.load_state_dict_from_url, nn.Module.load_state_dict = original
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: the statistics of the calibration batch
    net.train()
    with torch.no_grad():
        net(images)
    return {k: v.detach().clone() for k, v in net.eval().state_dict().items()}


def random_alexnet_features_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Return a random torchvision AlexNet's ``features.*`` state dict (what the LPIPS ``alex`` backbone loads)."""
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        state = torchvision.models.alexnet(weights=None).state_dict()
    return {k: v.clone() for k, v in state.items() if k.startswith("features.")}


__all__ = ["random_alexnet_features_state", "random_inception_state"]
