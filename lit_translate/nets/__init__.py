"""Plain ``nn.Module`` networks (no Lightning import): generators, discriminators, blocks and init."""

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
from lit_translate.nets.stargan import StarGANDiscriminator, StarGANGenerator, StarGANResidualBlock

__all__ = [
    "PatchDiscriminator",
    "PixelDiscriminator",
    "ResnetBlock",
    "ResnetGenerator",
    "StarGANDiscriminator",
    "StarGANGenerator",
    "StarGANResidualBlock",
    "UnetGenerator",
    "UnetSkipConnectionBlock",
    "conv_bias_for_norm",
    "get_norm_layer",
    "get_padding_layer",
    "init_weights",
    "resolve_choice",
]
