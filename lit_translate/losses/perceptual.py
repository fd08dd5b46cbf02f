"""Feature-space losses: perceptual losses, GAN feature matching, the VGG-19 loss.

Johnson et al. 2016's ``gram_matrix``, ``feature_loss``, ``style_loss`` and ``total_variation``; the GAN feature
matching and VGG-19 loss of pix2pixHD / SPADE.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from lit_translate.choices import resolve_choice

# ------------------------------------------------------------------------------------------- perceptual losses
# Johnson, Alahi & Fei-Fei 2016, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution", Sec. 3.
# Features come from lit_translate.nets.vgg.VGGFeatures. Everything below runs with autocast disabled and in at
# least float32 (float64 stays float64): Gram matrices of bf16/fp16 features lose most of their precision.
_CRITERIA: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"mse": F.mse_loss, "l1": F.l1_loss}


def full_precision(x: Tensor) -> Tensor:
    """Return ``x`` in float32, or float64 if it is float64 (loss arithmetic never runs in bf16/fp16)."""
    return x if x.dtype == torch.float64 else x.float()


def gram_matrix(features: Tensor) -> Tensor:
    """Gram matrix per sample, ``G = F F^T / (C H W)`` (the paper's G_j^phi; pytorch/examples ``utils.gram``).

    Args:
        features: ``(N, C, H, W)``; ``F`` is each sample's ``(C, H*W)`` reshape.

    Returns:
        ``(N, C, C)``, float32 (float64 for float64 features).
    """
    n, c, h, w = features.shape
    with torch.autocast(device_type=features.device.type, enabled=False):
        flat = full_precision(features).reshape(n, c, h * w)
        return flat @ flat.transpose(1, 2) / (c * h * w)


def feature_loss(a: Tensor, b: Tensor, criterion: Literal["mse", "l1"] = "mse") -> Tensor:
    """Feature reconstruction loss, ``mean((a - b)^2)`` or ``mean(|a - b|)`` over all elements.

    With ``"mse"`` this is the paper's l_feat (squared Euclidean distance / (C H W)), averaged over the batch, as
    pytorch/examples' ``mse_loss(features_y.relu2_2, features_x.relu2_2)``. The target ``b`` is used as given:
    detach it if it carries a graph you do not want to train.

    Args:
        a: Features of the output, any shape.
        b: Target features, same shape.
        criterion: ``"mse"`` or ``"l1"``. Default ``"mse"``.

    Returns:
        A float32 scalar.

    Raises:
        ValueError: Shapes differ, or ``criterion`` is unknown.
    """
    loss = resolve_choice("criterion", criterion, _CRITERIA)
    if a.shape != b.shape:
        raise ValueError(f"feature_loss needs features of one shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    with torch.autocast(device_type=a.device.type, enabled=False):
        return loss(full_precision(a), full_precision(b))


def style_loss(
    features: Mapping[str, Tensor], target_grams: Mapping[str, Tensor], layer_weights: Mapping[str, float] | None = None
) -> Tensor:
    """Style reconstruction loss, ``sum_l w_l * mean((gram(features[l]) - target_grams[l])^2)``.

    The paper's l_style (squared Frobenius norm of the Gram difference) summed over layers, averaged over the batch
    and the ``C x C`` entries as in pytorch/examples. There the style image's Grams are repeated to the batch size
    and sliced ``[:n_batch]`` for a smaller last batch; here one ``(C, C)`` or ``(1, C, C)`` target per layer is
    broadcast over whatever batch ``features`` has (the same value).

    Args:
        features: ``{layer: (N, C, H, W)}`` of the output (e.g. :class:`~lit_translate.nets.vgg.VGGFeatures`).
        target_grams: ``{layer: (C, C) | (1, C, C) | (N, C, C)}``, the style image's :func:`gram_matrix`; its keys
            are the style layers (pytorch/examples: relu1_2, relu2_2, relu3_3, relu4_3).
        layer_weights: ``{layer: weight}`` with exactly the keys of ``target_grams``; None = 1 for every layer
            (the reference). Default None.

    Returns:
        A float32 scalar (multiply by the style weight, 1e10 in the reference, yourself).

    Raises:
        ValueError: A style layer is missing from ``features``, ``layer_weights`` has other keys, or a target's
            shape does not broadcast to its Gram matrix.
    """
    missing = [name for name in target_grams if name not in features]
    if missing:
        raise ValueError(f"style_loss: features lack the style layers {missing}; they have {list(features)}")
    if layer_weights is not None and set(layer_weights) != set(target_grams):
        raise ValueError(f"style_loss: layer_weights keys {list(layer_weights)} != style layers {list(target_grams)}")
    total = None
    for name, target in target_grams.items():
        gram = gram_matrix(features[name])
        batch_fits = target.dim() == 2 or (target.dim() == 3 and target.shape[0] in (1, len(gram)))
        if target.shape[-2:] != gram.shape[-2:] or not batch_fits:
            raise ValueError(f"style_loss: target Gram {name} {tuple(target.shape)} does not fit {tuple(gram.shape)}")
        with torch.autocast(device_type=gram.device.type, enabled=False):
            term = F.mse_loss(gram, full_precision(target).expand_as(gram))
        term = term * (1.0 if layer_weights is None else layer_weights[name])
        total = term if total is None else total + term
    if total is None:
        raise ValueError("style_loss needs at least one style layer in target_grams")
    return total


def total_variation(x: Tensor, criterion: Literal["mse", "l1"] = "mse") -> Tensor:
    """Anisotropic total variation, averaged over vertical and horizontal neighbour pairs.

    ``"mse"``: ``TV(x) = mean (x[n,c,h+1,w] - x[n,c,h,w])^2 + mean (x[n,c,h,w+1] - x[n,c,h,w])^2``, the first
    mean over the ``N*C*(H-1)*W`` vertical pairs, the second over the ``N*C*H*(W-1)`` horizontal ones; ``"l1"``
    uses absolute differences instead of squares.

    Johnson et al. add a TV regulariser l_TV to their objective without spelling out its formula. Their Lua code's
    ``TotalVariation`` module uses the gradient of ``strength / 2 * sum (squared differences)`` over the
    (H-1)x(W-1) grid, summed over the batch, on mean-subtracted 0-255 pixels (its default ``vgg`` preprocessing).
    pytorch/examples has no TV term. On [-1, 1] images a squared-difference TV is ``1 / 127.5**2`` of the same TV
    on 0-255 pixels, an absolute one ``1 / 127.5``.

    Args:
        x: ``(N, C, H, W)`` images, H and W >= 2.
        criterion: ``"mse"`` (squared differences) or ``"l1"`` (absolute). Default ``"mse"``.

    Returns:
        A float32 scalar.
    """
    loss = resolve_choice("criterion", criterion, _CRITERIA)
    with torch.autocast(device_type=x.device.type, enabled=False):
        x = full_precision(x)
        vertical, horizontal = x[:, :, 1:, :], x[:, :, :, 1:]
        return loss(vertical, x[:, :, :-1, :]) + loss(horizontal, x[:, :, :, :-1])


# ------------------------------------------------------------------------------ SPADE / pix2pixHD loss terms
# Park et al. 2019 (NVlabs/SPADE models/networks/loss.py, models/pix2pix_model.py) and Wang et al. 2018 (NVIDIA/
# pix2pixHD models/pix2pixHD_model.py). ``outputs`` of lit_translate.nets.multiscale.MultiscaleDiscriminator are
# ``[[features..., logits] per scale]``. Each function returns the unweighted term (the caller applies lambda).
FeatureMatching = Literal["spade", "pix2pixhd"]
"""Layer weights of :func:`feature_matching_loss`: ``1 / num_D``, or (pix2pixHD) ``4 / (n_layers + 1) / num_D``."""

VGG_LOSS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
"""VGG-19 taps of the references' ``VGGLoss``; :data:`VGG_LOSS_WEIGHTS` are their weights, in order."""
VGG_LOSS_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


def feature_matching_loss(
    fake_outputs: list[list[Tensor]],
    real_outputs: list[list[Tensor]],
    weighting: FeatureMatching = "spade",
) -> Tensor:
    """GAN feature matching (pix2pixHD Eq. 4): ``sum_i sum_j w * mean|fake[i][j] - real[i][j]|``, real detached.

    ``i`` runs over the scales, ``j`` over each scale's intermediate features (all tensors but the last, the
    logits); ``w = 1 / num_D`` (``"spade"``) or ``4 / (n_layers + 1) / num_D`` (``"pix2pixhd"``, ``n_layers + 1``
    being the intermediate features per scale). Multiply by ``lambda_feat`` (10 in both references).

    Args:
        fake_outputs: ``MultiscaleDiscriminator`` output for the generated images (with the graph to G).
        real_outputs: Its output for the real images, same structure.
        weighting: ``"spade"`` or ``"pix2pixhd"``. Default ``"spade"``.

    Returns:
        A float32 scalar.

    Raises:
        ValueError: The outputs differ in structure or shapes, a scale has no intermediate feature, or
            ``weighting`` is unknown.
    """
    per_layer = resolve_choice("weighting", weighting, {"spade": False, "pix2pixhd": True})
    if len(fake_outputs) != len(real_outputs) or not fake_outputs:
        raise ValueError(f"feature_matching_loss: {len(fake_outputs)} fake and {len(real_outputs)} real scales")
    terms = []
    for fake, real in zip(fake_outputs, real_outputs):
        if len(fake) != len(real) or len(fake) < 2:
            raise ValueError("feature_matching_loss: each scale needs the same >= 2 outputs for fake and real")
        weight = (4.0 / (len(fake) - 1) if per_layer else 1.0) / len(fake_outputs)
        terms += [feature_loss(a, b.detach(), "l1") * weight for a, b in zip(fake[:-1], real[:-1])]
    return torch.stack(terms).sum()


def vgg_loss(
    fake_features: Mapping[str, Tensor],
    real_features: Mapping[str, Tensor],
    layer_weights: Mapping[str, float] | None = None,
) -> Tensor:
    """Compute the references' VGG loss ``sum_l w_l * mean|phi_l(fake) - phi_l(real)|``, real features detached.

    Build the loss network as the perceptual methods do, ``VGGFeatures("vgg19", VGG_LOSS_LAYERS,
    resolve_vgg_weights(vgg_weights, "vgg19"))`` (frozen buffers: out of optimizers and checkpoints), and call
    ``vgg_loss(vgg(fake), vgg(real))``; multiply by ``lambda_vgg`` (SPADE 10; pix2pixHD uses ``lambda_feat``, 10).
    ``VGGFeatures`` ImageNet-normalises its [-1, 1] input; both references feed [-1, 1] to the VGG unnormalised:
    for their values (parity checks) give it :func:`reference_vgg_input` of the images.

    Args:
        fake_features: ``{layer: (N, C, H, W)}`` of the generated images.
        real_features: The same layers of the real images.
        layer_weights: ``{layer: weight}``; None: :data:`VGG_LOSS_LAYERS` with :data:`VGG_LOSS_WEIGHTS`.

    Returns:
        A float32 scalar.

    Raises:
        ValueError: A weighted layer is missing from either features, or shapes differ.
    """
    weights = dict(zip(VGG_LOSS_LAYERS, VGG_LOSS_WEIGHTS)) if layer_weights is None else dict(layer_weights)
    missing = [name for name in weights if name not in fake_features or name not in real_features]
    if missing or not weights:
        raise ValueError(f"vgg_loss: features lack the layers {missing}; they have {list(fake_features)}")
    terms = [feature_loss(fake_features[k], real_features[k].detach(), "l1") * w for k, w in weights.items()]
    return torch.stack(terms).sum()


def reference_vgg_input(images: Tensor) -> Tensor:
    """Return ``2 (images * std + mean) - 1``: what ``VGGFeatures`` turns back into ``images`` (float rounding).

    Its first conv then sees the unnormalised images, as in NVlabs/SPADE's and NVIDIA/pix2pixHD's ``VGG19``.
    For parity checks only: the ImageNet-normalised input is what the VGG was trained on.
    """
    from lit_translate.nets.vgg import IMAGENET_MEAN, IMAGENET_STD  # losses stay importable without the nets

    mean, std = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1), images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return 2.0 * (images * std + mean) - 1.0
