"""The one exception family for bad input that the CLI reports as a single ``error:`` line.

Anything a user can fix (a configuration key, a data file, a missing pretrained file, an output folder that
exists) raises a subclass of :class:`InputError` with a message that names the key or file and the fix, before
the first training step. ``lit-translate`` prints ``error: <message>`` and exits with status 2
(``LIT_TRANSLATE_TRACEBACK=1`` shows the traceback). This module imports nothing from the package.
"""


class InputError(ValueError):
    """Bad input, explained in one line that names the key or file and the fix."""


__all__ = ["InputError"]
