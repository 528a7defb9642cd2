"""The one exception type for mistakes a user can make with their input."""

from __future__ import annotations

__all__ = ["CnngwpInputError"]


class CnngwpInputError(ValueError):
    """Bad input: the message names the file, row or column and what was expected."""
