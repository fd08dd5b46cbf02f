"""Label-map data (SPADE, pix2pixHD): class-id maps, instance maps and their photos.

``layouts.py`` (where a layout's files are: cityscapes, ade20k, coco, custom), ``dataset.py`` (reading by palette
index, SPADE's preprocessing with one shared crop/flip, the synthetic label-map task), ``module.py``
(SemanticDataModule), ``inputs.py`` (the on-device one-hot + instance-edge input of a label-map method).
"""

from lit_translate.data.semantic.dataset import (
    LABEL_MODES,
    PREPROCESS_MODES,
    SYNTHETIC_LABEL_NC,
    PreprocessMode,
    SemanticDataset,
    SemanticTransform,
    SyntheticLabelMaps,
    SyntheticSemanticDataset,
    map_ids,
    read_ids,
)

__all__ = [
    "LABEL_MODES",
    "PREPROCESS_MODES",
    "SYNTHETIC_LABEL_NC",
    "PreprocessMode",
    "SemanticDataset",
    "SemanticTransform",
    "SyntheticLabelMaps",
    "SyntheticSemanticDataset",
    "map_ids",
    "read_ids",
]
