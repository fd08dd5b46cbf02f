"""Data layer: image I/O, augmentation pipelines, samplers, datasets and DataModules."""

from lit_translate.data.base import ResizeCropDataModule, TranslationDataModule
from lit_translate.data.domains.celeba_modules import CelebADataModule, CelebARaFDDataModule
from lit_translate.data.domains.modules import DomainFolderDataModule, MultiDomainDataModule, SyntheticDomains
from lit_translate.data.folder import ImageFolderDataset
from lit_translate.data.images import ImageFolderDataModule
from lit_translate.data.io import IMG_EXTENSIONS, find_images, load_image, save_image
from lit_translate.data.paired import PairedDataModule, PairedImageDataset, SyntheticPairedDataset
from lit_translate.data.sampling import ShardedSampler, SharedEpoch, sample_seed
from lit_translate.data.semantic.inputs import semantic_input
from lit_translate.data.semantic.module import SemanticDataModule
from lit_translate.data.sr.dataset import SRDataset
from lit_translate.data.sr.module import SRDataModule
from lit_translate.data.sr.synthetic import SyntheticHR
from lit_translate.data.synthetic import SyntheticPairs, SyntheticUnpaired
from lit_translate.data.transforms import build_transform, to_tensor, to_uint8
from lit_translate.data.unpaired import SyntheticUnpairedDataset, UnpairedDataModule, UnpairedImageDataset

__all__ = [
    "IMG_EXTENSIONS",
    "CelebADataModule",
    "CelebARaFDDataModule",
    "DomainFolderDataModule",
    "MultiDomainDataModule",
    "SyntheticDomains",
    "ImageFolderDataModule",
    "ImageFolderDataset",
    "PairedDataModule",
    "PairedImageDataset",
    "ResizeCropDataModule",
    "SRDataModule",
    "SRDataset",
    "SemanticDataModule",
    "ShardedSampler",
    "SharedEpoch",
    "SyntheticHR",
    "SyntheticPairedDataset",
    "SyntheticPairs",
    "SyntheticUnpaired",
    "SyntheticUnpairedDataset",
    "TranslationDataModule",
    "UnpairedDataModule",
    "UnpairedImageDataset",
    "build_transform",
    "find_images",
    "load_image",
    "sample_seed",
    "save_image",
    "semantic_input",
    "to_tensor",
    "to_uint8",
]
