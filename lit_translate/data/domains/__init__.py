"""Multi-domain data (StarGAN): label spaces, domain folders, CelebA attributes, the mask vector.

``data/domains/labels.py`` (LabelSpace), ``datasets.py`` (the StarGAN transform, labelled and mask-vector datasets, the
alternating sampler), ``modules.py`` (MultiDomainDataModule, DomainFolderDataModule, SyntheticDomains),
``celeba.py`` (the attribute file and split), ``celeba_modules.py`` (CelebA and CelebA + RaFD DataModules). The names
of the former ``data/domains.py`` module are re-exported here, so ``lit_translate.data.domains.X`` still imports.
"""

from lit_translate.data.domains.modules import (
    SYNTHETIC_DOMAINS,
    DomainFolderDataModule,
    MultiDomainDataModule,
    SyntheticDomains,
    TransformedFolderDataset,
)

__all__ = [
    "SYNTHETIC_DOMAINS",
    "DomainFolderDataModule",
    "MultiDomainDataModule",
    "SyntheticDomains",
    "TransformedFolderDataset",
]
