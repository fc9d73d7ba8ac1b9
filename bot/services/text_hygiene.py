"""Text hygiene: what a villager sends is stored and shown without terminal control codes."""

from __future__ import annotations

import re

__all__ = ["clean_text", "printable"]

# ANSI/VT escape sequences (CSI, OSC) and other C0/C1 controls; newline and tab are kept.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """Drop escape sequences and control characters (NUL included: PostgreSQL refuses it)."""
    if text.isprintable():
        return text
    text = _ESCAPES.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", text)


def printable(text: str) -> str:
    """Return text safe to print on a terminal (older stored rows may hold control codes)."""
    return clean_text(text)
