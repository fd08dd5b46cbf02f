"""Random-weight stand-ins for the pretrained metric networks, in the real files' layouts.

For offline smoke tests and benchmarks only: an InceptionV3 (FID/KID) and an AlexNet (LPIPS backbone) state dict
that load exactly where the real files do (``--metrics.inception_weights``, ``--metrics.lpips_backbone_weights``)
and cost exactly as much to run, but whose numbers mean nothing. Save them under a name other than the registry's
file name: lit_translate then treats them as custom weights (with a warning) instead of failing the checksum.

The VGG stand-in (:func:`random_vgg_state`) serves the training losses the same way: same layout as
``vgg16-397923af.pth`` / ``vgg19-dcbb9e9d.pth``, meaningless features; ``--model.init_args.vgg_weights random``
asks for it (resolved by :func:`~.weights.loss_network_state`, the one resolver of ``vgg_weights``).

A plain random initialisation is not enough for InceptionV3: with BatchNorm's default statistics (mean 0,
variance 1) the activations shrink layer after layer and the 2048-d features come out around 1e-8, so every
FID is 0. :func:`random_inception_state` therefore sets each BatchNorm's statistics from a forward pass over
random images (data-dependent initialisation), which keeps the features from vanishing (FID then comes out
large and meaningless, rather than 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lit_translate.nets.vgg import IMAGENET_MEAN, IMAGENET_STD, vgg_conv_shapes, vgg_layer_names


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


def _calibration_images(count: int, size: int) -> torch.Tensor:
    """Random images in [0, 1]: half smooth (8x8 noise upsampled, plus some pixel noise), half uniform noise."""
    smooth = F.interpolate(torch.rand(count, 3, 8, 8), size=(size, size), mode="bilinear", align_corners=False)
    noise = torch.rand(count, 3, size, size)
    half = count // 2
    return torch.cat([0.75 * smooth[:half] + 0.25 * noise[:half], noise[half:]])


def random_vgg_state(
    arch: str = "vgg16", seed: int = 0, calibration_images: int = 8, image_size: int = 64
) -> dict[str, torch.Tensor]:
    """Return random torchvision VGG ``features.*`` weights, calibrated so that no layer's activations degenerate.

    Why calibrate: with a plain random initialisation the scale of the features depends on depth. PyTorch's
    default ``nn.Conv2d`` init (weight variance 1/(3 fan_in)) divides the signal power by about 6 per conv + ReLU
    until only the random biases hold it up (measured on 64 px random images, VGG-19: ReLU output std 0.38 at
    relu1_1, 0.005 from relu3_4 on, so deep Gram matrices are thousands of times smaller than shallow ones and
    mostly reflect the biases). torchvision's VGG init (kaiming normal, fan_out) is closer but still drifts
    (std 0.23 at relu1_1, 0.11 at relu5_4) and depends on the input statistics. Here each
    convolution gets random Gaussian weights and is then rescaled from a forward pass over random images
    (data-dependent, LSUV-like; Mishkin & Matas 2016): per output channel, weight / std and bias = -mean / std,
    so its pre-activations have mean 0 and std 1 on the calibration batch and every ReLU passes about half of
    them. Measured on other random images (uniform noise or smooth, 32 or 64 px), every tap of both
    architectures then has a std between about 0.4 and 1.3.

    Args:
        arch: ``"vgg16"`` or ``"vgg19"``. Default ``"vgg16"``.
        seed: Seed of the weights and of the calibration images. Default 0.
        calibration_images: Images in the calibration batch. Default 8.
        image_size: Their height and width (4 pools leave ``image_size / 16`` for block 5). Default 64.

    Returns:
        ``{"features.<i>.weight": (C_out, C_in, 3, 3), "features.<i>.bias": (C_out,)}`` for every convolution, in
        the layout of ``vgg16-397923af.pth`` / ``vgg19-dcbb9e9d.pth`` (no classifier keys, which VGGFeatures
        ignores). Save it under another name than the registry's file (it is then used as custom weights).
    """
    shapes = iter(vgg_conv_shapes(arch))
    state: dict[str, torch.Tensor] = {}
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        h = (_calibration_images(calibration_images, image_size) - mean) / std
        for index, name in enumerate(vgg_layer_names(arch)):
            if name.startswith("pool"):
                h = F.max_pool2d(h, kernel_size=2, stride=2)
            elif name.startswith("relu"):
                h = F.relu(h)
            else:
                c_in, c_out = next(shapes)
                weight = torch.randn(c_out, c_in, 3, 3)
                pre = F.conv2d(h, weight, padding=1)
                scale = pre.std(dim=(0, 2, 3)).clamp_min(1e-8)
                weight = weight / scale.view(-1, 1, 1, 1)
                bias = -pre.mean(dim=(0, 2, 3)) / scale
                h = F.conv2d(h, weight, bias, padding=1)
                state[f"features.{index}.weight"], state[f"features.{index}.bias"] = weight, bias
    return state


__all__ = [
    "random_alexnet_features_state",
    "random_inception_state",
    "random_vgg_state",
]
