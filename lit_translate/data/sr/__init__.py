"""Super-resolution data: HR images, LR made by bicubic reduction or read from a pre-made folder.

``dataset.py`` (SRDataset: aligned patches, mod-crop), ``module.py`` (SRDataModule: where each split's images are),
``synthetic.py`` (SyntheticHR: procedural HR images for the demos). The names of the former ``data/sr.py`` module
are re-exported here, so ``lit_translate.data.sr.SRDataset`` still imports.
"""

from lit_translate.data.sr.dataset import CONTEXT, SRDataset, check_sr_sizes, image_size, image_sizes, modded, to_tensor

__all__ = ["CONTEXT", "SRDataset", "check_sr_sizes", "image_size", "image_sizes", "modded", "to_tensor"]
