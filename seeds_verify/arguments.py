"""Command-line argument types shared by ``python -m seeds_verify.convergence`` and
``python -m seeds_verify.audit``: each raises ``argparse.ArgumentTypeError``, which argparse turns
into exit status 2 with the option named."""

from __future__ import annotations

import argparse
from typing import Callable, Sequence

__all__ = ["positive_int", "comma_list"]


def positive_int(text: str) -> int:
    """An int ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def comma_list(choices: Sequence[str] | None) -> Callable[[str], tuple]:
    """A comma-separated list of names (repeats dropped, order kept), each one of ``choices``
    unless ``choices`` is None; at least one."""
    def parse(text: str) -> tuple:
        values = tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
        bad = [v for v in values if choices is not None and v not in choices]
        if not values or bad:
            raise argparse.ArgumentTypeError(f"invalid choice {', '.join(bad) or repr(text)}"
                                             + (f" (choose from {', '.join(choices)})" if choices else ""))
        return values
    return parse
