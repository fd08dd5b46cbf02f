"""Translation methods: one LightningModule per file."""

from lit_translate.methods.base import TranslationModule, inference_context, paper_adam
from lit_translate.methods.cyclegan import CycleGAN
from lit_translate.methods.pix2pix import Pix2Pix
from lit_translate.methods.srgan import SRGAN
from lit_translate.methods.srresnet import SRResNetMethod

__all__ = ["SRGAN", "CycleGAN", "Pix2Pix", "SRResNetMethod", "TranslationModule", "inference_context", "paper_adam"]
