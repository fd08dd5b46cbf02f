"""lit_translate: conditional image-to-image translation on PyTorch Lightning."""

import os

# albumentations (2.0.8) queries PyPI for a newer version on import; that is a network call on every run (and a
# delay on offline clusters). Opt out unless the user asked otherwise.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
# With OpenMP's default active waiting, any competing process (a DataLoader worker, a second DDP rank on the
# same cores) makes CPU training 10-35x slower on small machines; passive waiting costs little elsewhere. It must
# be set before torch is imported, which this package does only after this line.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from lit_translate import moved as _moved  # noqa: E402  (after the environment defaults above)

_moved.install()
