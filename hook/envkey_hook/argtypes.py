"""Argument types shared by the commands' parsers."""

from __future__ import annotations

import math


def seconds(text: str) -> float:
    """A wait in seconds: finite and not negative (`nan` or `inf` would wait forever)."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value
