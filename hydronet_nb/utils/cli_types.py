"""Numbers on the command line, checked when argparse reads them: ``type=`` functions with ranges.

A value out of range is argparse's own error, before any work starts: the usage line and
``hydronet-nb md: error: argument --steps: expected an integer >= 1, got '-5'``, exit status 2.
Every numeric option of every subcommand uses one of these (``tests/test_cli_options.py`` checks that
no option is left with a bare ``type=int`` or ``type=float``).
"""
from __future__ import annotations

import argparse
import math


def _integer(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def _number(text: str, low: float, strict: bool, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value) or value < low or (strict and value == low):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (steps, seeds, threads, clusters)."""
    return _integer(text, 1, "an integer >= 1")


def nonneg_int(text: str) -> int:
    """An integer >= 0 (a random seed; a count where 0 means none)."""
    return _integer(text, 0, "an integer >= 0")


def water_count(text: str) -> int:
    """Waters in a cluster: an integer >= 1."""
    return _integer(text, 1, "a number of waters >= 1")


def positive_float(text: str) -> float:
    """A finite number > 0 (a time step, a temperature, a coupling time)."""
    return _number(text, 0.0, True, "a number > 0")


def nonneg_float(text: str) -> float:
    """A finite number >= 0 (a displacement)."""
    return _number(text, 0.0, False, "a number >= 0")


#: every type function of this module (the test of the options checks that each numeric option uses one)
TYPES = (positive_int, nonneg_int, water_count, positive_float, nonneg_float)
