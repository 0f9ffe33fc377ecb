"""Phone numbers, read the same way everywhere: the pôles' office numbers in notice.yml and the
number a candidate types in the form.

A French number is shown as ``05 16 52 64 55``, whatever its spacing, dots or dashes, and from
its ``+33`` form too. An international number (``+`` and 8 to 15 digits) is kept as ``+4420…``
where the caller allows it. This module is pure: the standard library only, nothing of the
package, so that any layer may use it.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s.\-]")
_FRENCH = re.compile(r"0[1-9]\d{8}")
_INTERNATIONAL = re.compile(r"\+\d{8,15}")


def format_phone(value: str, *, international: bool = False) -> str | None:
    """The display form of `value`: ``05 16 52 64 55`` for a 10-digit French number (written
    with any spaces, dots or dashes, or as ``+33 5 16 52 64 55``); if `international`, also
    ``+`` and 8 to 15 digits, without separators. None if `value` is neither."""
    digits = _SEPARATORS.sub("", value)
    if digits.startswith("+33"):
        digits = "0" + digits[3:]
    if _FRENCH.fullmatch(digits):
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    if international and _INTERNATIONAL.fullmatch(digits):
        return digits
    return None
