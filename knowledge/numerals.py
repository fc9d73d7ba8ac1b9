"""Convert between Arabic integers and the Chinese numerals used in article labels (第二百三十六条)."""

from __future__ import annotations

import re

__all__ = ["article_label", "chinese_to_int", "int_to_chinese", "parse_article"]

_DIGITS = "零一二三四五六七八九"
_UNITS = ((1000, "千"), (100, "百"), (10, "十"))
_DIGIT_VALUE = {c: i for i, c in enumerate(_DIGITS)} | {"两": 2, "〇": 0}
_UNIT_VALUE = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_LABEL = re.compile(r"^第([零〇一二两三四五六七八九十百千万\d]+)条(之[一二三四五六七八九十]+)?$")


def int_to_chinese(n: int) -> str:
    """Write 1 ≤ n ≤ 9999 as Chinese numerals the way statutes do (236 → 二百三十六, 10 → 十)."""
    if not 1 <= n <= 9999:
        raise ValueError(f"article number out of range: {n}")
    out: list[str] = []
    rest = n
    pending_zero = False
    for value, unit in _UNITS:
        digit, rest = divmod(rest, value)
        if digit:
            if pending_zero:
                out.append("零")
            out.append(_DIGITS[digit] + unit)
            pending_zero = False
        elif out:
            pending_zero = True
        # a zero is only written between two non-zero parts
    if rest:
        if pending_zero and out:
            out.append("零")
        out.append(_DIGITS[rest])
    text = "".join(out)
    return text[1:] if text.startswith("一十") else text


def chinese_to_int(text: str) -> int:
    """Read Chinese numerals (二百三十六, 十, 一千零七十九) or Arabic digits as an integer."""
    if text.isdigit():
        return int(text)
    total = 0
    digit = 0
    for char in text:
        if char in _DIGIT_VALUE:
            digit = _DIGIT_VALUE[char]
        elif char in _UNIT_VALUE:
            total += (digit or 1) * _UNIT_VALUE[char]
            digit = 0
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    return total + digit


def parse_article(value: int | str) -> str:
    """Return the canonical label (第二百三十六条, 第一百三十三条之一) of an article reference.

    Accepts an integer, a digit string, or a label such as 第236条 / 第二百三十六条.
    """
    if isinstance(value, bool):
        raise ValueError(f"not an article number: {value!r}")
    if isinstance(value, int):
        return f"第{int_to_chinese(value)}条"
    text = str(value).strip().replace(" ", "")
    if text.isdigit():
        return f"第{int_to_chinese(int(text))}条"
    match = _LABEL.match(text)
    if match is None:
        raise ValueError(f"not an article reference: {value!r}")
    number, suffix = match.groups()
    return f"第{int_to_chinese(chinese_to_int(number))}条{suffix or ''}"


def article_label(value: int | str) -> str:
    """Alias of `parse_article` for readability at call sites that only display."""
    return parse_article(value)
