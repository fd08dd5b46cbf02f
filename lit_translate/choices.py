"""The one check for string options (``gan_mode``, ``norm``, ``direction``, ...): a clear error naming the key.

Nets, losses, data and methods all validate their string choices here (no Lightning import), so every bad value
gets the same message: the key, the allowed values and, for a near miss, the closest one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")


def check_choice(key: str, value: T, allowed: Iterable[T]) -> T:
    """Return ``value`` if it is one of ``allowed``, else raise a ValueError naming ``key`` and the choices.

    Args:
        key: The option name for the message (e.g. ``"direction"`` or ``"gan_mode"``).
        value: The configured value.
        allowed: The accepted values (a mapping's keys count); strings or other hashable values such as ints.

    Returns:
        ``value`` unchanged.

    Raises:
        ValueError: ``value`` is not allowed. The message reads ``direction must be one of 'AtoB', 'BtoA'; got
            'AB'``, adds ``did you mean 'AtoB'?`` for a near miss, and ends with ``direction='AB'`` and the allowed
            values once more for searching logs.
    """
    options = list(allowed)
    if value in options and type(value) in {type(option) for option in options}:
        return value
    listed = ", ".join(repr(option) for option in options)
    by_text = {str(option): option for option in options}
    close = difflib.get_close_matches(str(value), list(by_text), n=1)
    hint = f" (did you mean {by_text[close[0]]!r}?)" if close and close[0] != str(value) else ""
    raise ValueError(
        f"{key} must be one of {listed}; got {value!r}{hint}. Replace {key}={value!r} with one of the allowed "
        f"values: {listed}"
    )


def resolve_choice(key: str, value: str, options: Mapping[str, T]) -> T:
    """Look up a string option in a map of allowed values (see :func:`check_choice` for the error).

    Args:
        key: Name of the option, used in the error message.
        value: The value that was passed.
        options: Map from allowed values to what they resolve to.

    Returns:
        ``options[value]``.
    """
    return options[check_choice(key, value, options)]


__all__ = ["check_choice", "resolve_choice"]
