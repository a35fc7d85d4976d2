"""How a recorded value reads in the book's prose: the one formatting layer.

The chapters quote recorded values as ``{eval}`v["key:spec"]``` (``spec`` a Python format spec, optional).
The same function, :func:`as_text`, makes the text in both places a reader meets it: the live kernel
(jupyterlab-myst evaluates ``v[...]``) and the built book (``book/_ext/live_values.py`` reads the recorded
value from the executed notebook and formats it here), so the two cannot disagree.

Rules beyond Python's ``format``: a boolean reads as ``yes``/``no``; a missing or non-finite number as
``n/a``; an integral float with an integer spec (``d``, ``,d``) as an integer; a number that rounds to zero
has no minus sign (``-0.00`` reads ``0.00``); a string is itself.

Word specs, for what ``format`` cannot say: ``abs`` before a spec gives the magnitude (``abs.0f``: -648.2
reads ``648``, for a prose that words the direction itself: "falls by"); ``duration`` reads seconds as a
person would say them (``under a millisecond``, ``12 ms``, ``3.4 s``, ``4.5 min``, ``2.4 h``).
"""
from __future__ import annotations

import ast
import math
import re

#: the recorded-value reference of the prose: ``key`` and an optional format spec
_KEY = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<spec>.*))?$")


def split_key(reference: str) -> tuple[str, str]:
    """``"pre_min_force:.1f"`` as ``("pre_min_force", ".1f")``; ``"n"`` as ``("n", "")``."""
    match = _KEY.match(reference)
    if match is None:
        raise KeyError(f"{reference!r} is not a recorded-value reference (key or key:format)")
    return match["key"], match["spec"] or ""


def recorded_value(plain: str):
    """The Python value of a recorded value's ``text/plain`` (its repr, as glue stores it); a text that is no
    literal is itself."""
    try:
        return ast.literal_eval(plain)
    except (ValueError, SyntaxError):
        return plain


def as_text(value, spec: str = "") -> str:
    """``value`` as it reads in a sentence (see the module's rules)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "n/a"
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    if spec.startswith("abs") and isinstance(value, (int, float)):
        return as_text(abs(value), spec[3:])
    if spec == "duration":
        return duration_text(value)
    if isinstance(value, float) and spec[-1:] in ("d", "n") and value.is_integer():
        value = int(value)
    if isinstance(value, int) and spec[-1:] in ("f", "e", "g", "%"):
        value = float(value)
    text = format(value, spec)
    if isinstance(value, (int, float)) and text.startswith("-") and not re.search(r"[1-9]", text):
        text = text[1:]  # -0.00: rounds to zero, no sign
    return text


def _two_figures(value: float) -> tuple[float, str]:
    """``value`` (positive) rounded to two significant figures, and its text without an exponent: 0.0123 as
    ``0.012``, 250.4 as ``250``, 0.999 as ``1.0``."""
    rounded = round(value, 1 - math.floor(math.log10(value)))
    return rounded, format(rounded, f".{max(1 - math.floor(math.log10(rounded)), 0)}f")


def duration_text(seconds: float) -> str:
    """A duration in seconds as a sentence says it: ``under a millisecond``, ``12 ms``, ``3.4 s``, ``4.5 min``,
    ``2.4 h`` (two significant figures below an hour)."""
    if seconds < 1e-3:
        return "under a millisecond"
    for unit, size, upto in (("ms", 1e-3, 1.0), ("s", 1.0, 60.0), ("min", 60.0, 3600.0)):
        # a unit after the first is reached only when the one before rounded up to it: 59.7 s is 1.0 min
        rounded, text = _two_figures(seconds / size if unit == "ms" else max(seconds / size, 1.0))
        if rounded * size < upto:
            return f"{text} {unit}"
    return f"{seconds / 3600:.1f} h"
