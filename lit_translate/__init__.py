"""lit_translate: conditional image-to-image translation on PyTorch Lightning."""

import os

# albumentations (2.0.8) queries PyPI for a newer version on import; that is a network call on every run (and a
# delay on offline clusters). Opt out unless the user asked otherwise.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
