"""Plain ``nn.Module`` networks (no Lightning import): generators, discriminators, blocks, init, loss networks."""

from lit_translate.nets.blocks import (
    ResnetBlock,
    UnetSkipConnectionBlock,
    conv_bias_for_norm,
    get_norm_layer,
    get_padding_layer,
    resolve_choice,
)
from lit_translate.nets.discriminators import PatchDiscriminator, PixelDiscriminator
from lit_translate.nets.generators import ResnetGenerator, UnetGenerator
from lit_translate.nets.init import init_weights
from lit_translate.nets.transformer import PerceptualSRNet, TransformerNet
from lit_translate.nets.vgg import VGGFeatures, frozen_buffer_names, vgg_layer_names

__all__ = [
    "PatchDiscriminator",
    "PerceptualSRNet",
    "PixelDiscriminator",
    "ResnetBlock",
    "ResnetGenerator",
    "TransformerNet",
    "UnetGenerator",
    "UnetSkipConnectionBlock",
    "VGGFeatures",
    "conv_bias_for_norm",
    "frozen_buffer_names",
    "get_norm_layer",
    "get_padding_layer",
    "init_weights",
    "resolve_choice",
    "vgg_layer_names",
]
