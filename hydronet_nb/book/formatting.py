"""How a recorded value reads in the book's prose: the one formatting layer.

The chapters quote recorded values as ``{eval}`v["key:spec"]``` (``spec`` a Python format spec, optional).
The same function, :func:`as_text`, makes the text in both places a reader meets it: the live kernel
(jupyterlab-myst evaluates ``v[...]``) and the built book (``book/_ext/live_values.py`` reads the recorded
value from the executed notebook and formats it here), so the two cannot disagree.

Rules beyond Python's ``format``: a boolean reads as ``yes``/``no``; a missing or non-finite number as
``n/a``; an integral float with an integer spec (``d``, ``,d``) as an integer; a number that rounds to zero
has no minus sign (``-0.00`` reads ``0.00``); a string is itself.
"""
from __future__ import annotations

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


def as_text(value, spec: str = "") -> str:
    """``value`` as it reads in a sentence (see the module's rules)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "n/a"
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    if isinstance(value, float) and spec[-1:] in ("d", "n") and value.is_integer():
        value = int(value)
    if isinstance(value, int) and spec[-1:] in ("f", "e", "g", "%"):
        value = float(value)
    text = format(value, spec)
    if isinstance(value, (int, float)) and text.startswith("-") and not re.search(r"[1-9]", text):
        text = text[1:]  # -0.00: rounds to zero, no sign
    return text
