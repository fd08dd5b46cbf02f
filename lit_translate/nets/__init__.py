"""Plain ``nn.Module`` networks (no Lightning import): generators, discriminators, SR and StarGAN nets, blocks, init."""

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
from lit_translate.nets.sr import MSRResNet, RRDBNet, SRResNet, VGGStyleDiscriminator
from lit_translate.nets.stargan import StarGANDiscriminator, StarGANGenerator, StarGANResidualBlock

__all__ = [
    "MSRResNet",
    "PatchDiscriminator",
    "PixelDiscriminator",
    "RRDBNet",
    "ResnetBlock",
    "ResnetGenerator",
    "SRResNet",
    "StarGANDiscriminator",
    "StarGANGenerator",
    "StarGANResidualBlock",
    "UnetGenerator",
    "UnetSkipConnectionBlock",
    "VGGStyleDiscriminator",
    "conv_bias_for_norm",
    "get_norm_layer",
    "get_padding_layer",
    "init_weights",
    "resolve_choice",
]
