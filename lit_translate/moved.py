"""Old module paths of moved modules, kept importable: saved configs, checkpoints and user code name them.

``import lit_translate.weights`` (moved to :mod:`lit_translate.pretrained.weights`) returns the module at its new
path, the same object, so ``isinstance`` checks, pickled references and monkeypatching through either name agree.
A module that became a package of the same name (``lit_translate.data.sr``) re-exports its old names in the
package's ``__init__`` instead. This module imports nothing from the package; ``lit_translate/__init__.py``
installs the finder.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

#: old module name -> new module name
MOVED: dict[str, str] = {
    "lit_translate.config_checks": "lit_translate.run.config_checks",
    "lit_translate.data.celeba": "lit_translate.data.domains.celeba",
    "lit_translate.data.celeba_modules": "lit_translate.data.domains.celeba_modules",
    "lit_translate.data.multidomain": "lit_translate.data.domains.datasets",
    "lit_translate.data.semantic_inputs": "lit_translate.data.semantic.inputs",
    "lit_translate.data.semantic_layouts": "lit_translate.data.semantic.layouts",
    "lit_translate.data.semantic_module": "lit_translate.data.semantic.module",
    "lit_translate.data.sr_module": "lit_translate.data.sr.module",
    "lit_translate.data.synthetic_sr": "lit_translate.data.sr.synthetic",
    "lit_translate.ema": "lit_translate.methods.parts.ema",
    "lit_translate.evaluation.standins": "lit_translate.pretrained.standins",
    "lit_translate.evaluation.weights": "lit_translate.pretrained.weights",
    "lit_translate.image_pool": "lit_translate.methods.parts.image_pool",
    "lit_translate.labels": "lit_translate.data.domains.labels",
    "lit_translate.loggers": "lit_translate.run.loggers",
    "lit_translate.methods.aliases": "lit_translate.methods.types",
    "lit_translate.methods.averaging": "lit_translate.methods.parts.averaging",
    "lit_translate.methods.guard": "lit_translate.methods.parts.guard",
    "lit_translate.methods.inference": "lit_translate.methods.parts.inference",
    "lit_translate.methods.optimizers": "lit_translate.methods.parts.optimizers",
    "lit_translate.methods.plumbing": "lit_translate.methods.parts.plumbing",
    "lit_translate.methods.pretrained": "lit_translate.methods.parts.pretraining",
    "lit_translate.resize": "lit_translate.data.resize",
    "lit_translate.run_dir": "lit_translate.run.directory",
    "lit_translate.standins": "lit_translate.pretrained.standins",
    "lit_translate.strategies": "lit_translate.run.strategies",
    "lit_translate.tiling": "lit_translate.methods.parts.tiling",
    "lit_translate.trainer": "lit_translate.run.trainer",
    "lit_translate.wandb_sync": "lit_translate.run.wandb_sync",
    "lit_translate.weights": "lit_translate.pretrained.weights",
    "lit_translate.weights_check": "lit_translate.pretrained.check",
    "lit_translate.weights_registry": "lit_translate.pretrained.registry",
}


class _MovedModuleLoader(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolve an old module name to the module at its new path (which replaces the alias in ``sys.modules``)."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        """Return a spec for a moved module's old name, None for every other name."""
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        """Use the default module creation (the alias is replaced in ``exec_module``)."""
        return None

    def exec_module(self, module: ModuleType) -> None:
        """Import the module at its new path and let it stand for the old name."""
        sys.modules[module.__name__] = importlib.import_module(MOVED[module.__name__])


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, _MovedModuleLoader) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedModuleLoader())
