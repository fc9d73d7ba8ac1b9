"""Pure rendering of replies as WeChat text: buttons become numbered lines and keywords (no I/O).

WeChat text messages have no buttons. A list of candidate questions (`pick` buttons) keeps the
service's own numbers (1–3, 0 for the advisor), which `ConsultationService.ask` reads when the
villager types them. Every other button is numbered by the channel after those numbers, and the
channel maps a typed number back to the button's action (`Choices`). The advisor button becomes
the keyword 找法律顾问, which the service understands as well.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot import texts
from bot.services import actions
from bot.services.replies import Reply

__all__ = ["MAX_BYTES", "Choices", "Offer", "Rendered", "render", "split_text", "typed_number"]

MAX_BYTES = 2048  # WeChat's limit for one text message (passive or customer-service)
CHOICE_SECONDS = 2 * 3600.0  # as long as the service honours a typed number (CHOICE_WINDOW)
MAX_REMEMBERED = 10_000
_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


@dataclass(frozen=True, slots=True)
class Offer:
    """What a typed number or the advisor keyword means after a message (channel-side)."""

    numbers: dict[int, str] = field(default_factory=dict)  # typed number -> action
    advisor: str | None = None  # the action 找法律顾问 takes (None: the service decides)


@dataclass(frozen=True, slots=True)
class Rendered:
    """One WeChat text and what its numbers and keywords stand for."""

    text: str
    offer: Offer = Offer()


def render(replies: Sequence[Reply]) -> Rendered:
    """Render replies as one text; number their buttons after the service's own numbers."""
    picks = sum(1 for r in replies for b in r.flat_buttons() if _kind(b.action) == actions.PICK)
    number = picks + 1  # the service numbers its list 1..picks (and 0 for the advisor)
    numbers: dict[int, str] = {}
    advisor: str | None = None
    parts: list[str] = []
    for reply in replies:
        buttons = reply.flat_buttons()
        lines = [reply.text] if reply.text else []
        listed = [b for b in buttons if _kind(b.action) == actions.PICK]
        if listed:
            advisor = next((b.action for b in buttons if _kind(b.action) == actions.ADVISOR), None)
            if texts.SUGGEST_NUMBERED_HINT not in reply.text and (
                texts.CONFIRM_NUMBERED_HINT not in reply.text
            ):
                lines += [_numbered(i, b.label) for i, b in enumerate(listed, 1)]
                lines.append(texts.SUGGEST_NUMBERED_HINT)
            parts.append("\n".join(lines))
            continue  # its feedback buttons would clash with the numbers on offer
        own: list[str] = []
        for button in buttons:
            if _kind(button.action) == actions.ADVISOR:
                advisor = button.action
                continue
            numbers[number] = button.action
            own.append(f"{number}. {button.label}")
            number += 1
        if own:
            lines += [*own, texts.WECHAT_CHOICE_HINT]
        if any(_kind(b.action) == actions.ADVISOR for b in buttons):
            lines.append(texts.WECHAT_ADVISOR_HINT)
        parts.append("\n".join(lines))
    return Rendered("\n\n".join(p for p in parts if p), Offer(numbers, advisor))


def split_text(text: str, limit: int = MAX_BYTES) -> list[str]:
    """Cut a text into messages of at most `limit` UTF-8 bytes: between paragraphs, else lines."""
    return [c for c in _pack(text.split("\n\n"), "\n\n", limit, _split_paragraph) if c.strip()]


def _split_paragraph(paragraph: str, limit: int) -> list[str]:
    return _pack(paragraph.split("\n"), "\n", limit, _split_line)


def _split_line(line: str, limit: int) -> list[str]:
    pieces = []
    while line:
        head = line.encode()[:limit].decode(errors="ignore")
        pieces.append(head)
        line = line[len(head) :]
    return pieces


def _pack(
    parts: list[str], joiner: str, limit: int, split: Callable[[str, int], list[str]]
) -> list[str]:
    chunks: list[str] = []
    current = ""
    for part in parts:
        pieces = [part] if len(part.encode()) <= limit else split(part, limit)
        for piece in pieces:
            joined = f"{current}{joiner}{piece}" if current else piece
            if len(joined.encode()) <= limit:
                current = joined
            else:
                chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


def typed_number(text: str) -> int | None:
    """Read a typed number 0–99 (full-width digits too); None for anything else."""
    stripped = text.strip().translate(_DIGITS)
    return int(stripped) if 1 <= len(stripped) <= 2 and stripped.isdecimal() else None


def _kind(action: str) -> str:
    return actions.decode(action)[0]


def _numbered(number: int, label: str) -> str:
    prefix = f"{number}. "
    return label if label.startswith(prefix) else prefix + label


class Choices:
    """The offer of the last message each follower got, for two hours (in this process only).

    `stamp` (the services' clock, set by the channel) dates each offer, so that a push sent by
    another process after it can take its place (`offered_at`).
    """

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        stamp: Callable[[], datetime] | None = None,
    ) -> None:
        self._monotonic = monotonic
        self.stamp = stamp
        self._offers: dict[str, tuple[float, Offer]] = {}
        self._stamps: dict[str, datetime] = {}

    def remember(self, openid: str, offer: Offer) -> None:
        """Replace what the follower's numbers and keywords mean."""
        self._offers.pop(openid, None)
        self._offers[openid] = (self._monotonic(), offer)
        if self.stamp is not None:
            self._stamps[openid] = self.stamp()
        while len(self._offers) > MAX_REMEMBERED:  # dicts keep insertion order: oldest first
            oldest = next(iter(self._offers))
            del self._offers[oldest]
            self._stamps.pop(oldest, None)

    def offered_at(self, openid: str) -> datetime | None:
        """When the follower's current offer was made (by `stamp`); None when unknown."""
        return self._stamps.get(openid) if openid in self._offers else None

    def current(self, openid: str) -> Offer:
        """Return the follower's current offer (empty when none or older than two hours)."""
        found = self._offers.get(openid)
        if found is None or self._monotonic() - found[0] > CHOICE_SECONDS:
            return Offer()
        return found[1]
