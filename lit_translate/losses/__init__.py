"""Loss terms, plain torch (no Lightning, no pretrained-file registry): each returns an unweighted term.

``adversarial.py`` (GANLoss, gradient_penalty, multiscale_gan_loss), ``perceptual.py`` (Johnson et al.'s feature,
style and TV losses, GAN feature matching, the VGG-19 loss), ``latent.py`` (KL of a VAE encoder), ``energy.py``
(EBGAN / BEGAN objectives of auto-encoder discriminators). The names of the former ``losses.py`` module are
re-exported here, so ``lit_translate.losses.GANLoss`` still imports.
"""

from lit_translate.losses.adversarial import _OBJECTIVES, GANLoss, GanMode, gradient_penalty, multiscale_gan_loss
from lit_translate.losses.latent import kl_divergence
from lit_translate.losses.perceptual import (
    VGG_LOSS_LAYERS,
    VGG_LOSS_WEIGHTS,
    FeatureMatching,
    feature_loss,
    feature_matching_loss,
    gram_matrix,
    reference_vgg_input,
    style_loss,
    total_variation,
    vgg_loss,
)

__all__ = [
    "VGG_LOSS_LAYERS",
    "VGG_LOSS_WEIGHTS",
    "_OBJECTIVES",
    "FeatureMatching",
    "GANLoss",
    "GanMode",
    "feature_loss",
    "feature_matching_loss",
    "gradient_penalty",
    "gram_matrix",
    "kl_divergence",
    "multiscale_gan_loss",
    "reference_vgg_input",
    "style_loss",
    "total_variation",
    "vgg_loss",
]
