"""Mask personal numbers (phones, ID cards, bank cards) before text reaches a log or a card."""

from __future__ import annotations

import re

__all__ = ["find_mobile", "mask_numbers"]

_ID_CARD = re.compile(r"(?<!\d)\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])\d{2}\d{3}[\dXx](?!\d)")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")
_LONG_DIGITS = re.compile(r"(?<!\d)\d{12,19}(?!\d)")  # bank cards and other long account numbers


def mask_numbers(text: str) -> str:
    """Replace ID-card, phone and long account numbers with a placeholder."""
    text = _ID_CARD.sub("[身份证号]", text)
    text = _MOBILE.sub("[电话]", text)
    text = _LANDLINE.sub("[电话]", text)
    return _LONG_DIGITS.sub("[号码]", text)


def find_mobile(text: str) -> str | None:
    """The first mobile number in a message, digits only (for a villager typing it to share)."""
    match = _MOBILE.search(text)
    if match is None:
        return None
    digits = "".join(ch for ch in match.group(0) if ch.isdigit())
    return digits[-11:]
