"""Shim: the pretrained-file registry moved to :mod:`lit_translate.weights` (training losses use it too).

``lit_translate.evaluation.weights`` is the same module object, so monkeypatching either name patches both.
"""

import sys

from lit_translate import weights as _weights

sys.modules[__name__] = _weights
