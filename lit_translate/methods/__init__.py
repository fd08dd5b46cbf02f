"""Translation methods: one LightningModule per file."""

from lit_translate.methods.base import TranslationModule, inference_context, paper_adam
from lit_translate.methods.bicyclegan import BicycleGAN
from lit_translate.methods.cyclegan import CycleGAN
from lit_translate.methods.perceptual_sr import PerceptualSR
from lit_translate.methods.pix2pix import Pix2Pix
from lit_translate.methods.pix2pixhd import Pix2PixHD
from lit_translate.methods.spade import SPADE
from lit_translate.methods.srgan import SRGAN
from lit_translate.methods.srresnet import SRResNetMethod
from lit_translate.methods.stargan import StarGAN
from lit_translate.methods.style_transfer import StyleTransfer
from lit_translate.methods.unconditional import UnconditionalGAN

__all__ = [
    "SPADE",
    "SRGAN",
    "BicycleGAN",
    "CycleGAN",
    "PerceptualSR",
    "Pix2Pix",
    "Pix2PixHD",
    "SRResNetMethod",
    "StarGAN",
    "StyleTransfer",
    "TranslationModule",
    "UnconditionalGAN",
    "inference_context",
    "paper_adam",
]
