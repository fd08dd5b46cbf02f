"""Plain ``nn.Module`` networks (no Lightning import): generators, discriminators, loss networks, blocks, init."""

from lit_translate.nets.bicycle import BicycleDiscriminator, BicycleEncoder, BicycleGenerator
from lit_translate.nets.blocks import (
    ResnetBlock,
    UnetSkipConnectionBlock,
    conv_bias_for_norm,
    get_norm_layer,
    get_padding_layer,
    resolve_choice,
)
from lit_translate.nets.discriminators import PatchDiscriminator, PixelDiscriminator
from lit_translate.nets.frozen import FrozenModule, frozen_buffer_names
from lit_translate.nets.generators import ResnetGenerator, UnetGenerator
from lit_translate.nets.init import init_weights
from lit_translate.nets.multiscale import MultiscaleDiscriminator
from lit_translate.nets.pix2pixhd import FeatureEncoder, GlobalGenerator, LocalEnhancer
from lit_translate.nets.spade import SPADE, ConvEncoder, SPADEGenerator, SPADEResnetBlock
from lit_translate.nets.sr import MSRResNet, RRDBNet, SRResNet, VGGStyleDiscriminator
from lit_translate.nets.stargan import StarGANDiscriminator, StarGANGenerator, StarGANResidualBlock
from lit_translate.nets.transformer import PerceptualSRNet, TransformerNet
from lit_translate.nets.vgg import VGGFeatures, vgg_layer_names

__all__ = [
    "SPADE",
    "BicycleDiscriminator",
    "BicycleEncoder",
    "BicycleGenerator",
    "ConvEncoder",
    "FeatureEncoder",
    "GlobalGenerator",
    "LocalEnhancer",
    "MultiscaleDiscriminator",
    "SPADEGenerator",
    "SPADEResnetBlock",
    "FrozenModule",
    "MSRResNet",
    "PatchDiscriminator",
    "PerceptualSRNet",
    "PixelDiscriminator",
    "RRDBNet",
    "ResnetBlock",
    "ResnetGenerator",
    "SRResNet",
    "StarGANDiscriminator",
    "StarGANGenerator",
    "StarGANResidualBlock",
    "TransformerNet",
    "UnetGenerator",
    "UnetSkipConnectionBlock",
    "VGGFeatures",
    "VGGStyleDiscriminator",
    "conv_bias_for_norm",
    "frozen_buffer_names",
    "get_norm_layer",
    "get_padding_layer",
    "init_weights",
    "resolve_choice",
    "vgg_layer_names",
]
