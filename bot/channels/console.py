"""The console channel: a terminal conversation through the same service as Telegram."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from bot import texts
from bot.services.consultation import ConsultationService, Outcome, Sender
from bot.services.replies import Button, Reply

__all__ = ["ConsoleChat"]

CHANNEL = "console"


def decode_line(raw: bytes) -> tuple[str, str | None]:
    """Decode a typed line: UTF-8, else GBK (GB18030), else UTF-8 with the unreadable bytes marked."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), texts.CONSOLE_DECODED_GBK
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), texts.CONSOLE_UNREADABLE


class ConsoleChat:
    """Read lines, call the service, print replies; typed numbers choose the last buttons."""

    def __init__(self, service: ConsultationService, *, user_id: str, out: TextIO) -> None:
        self.service = service
        self.sender = Sender(channel=CHANNEL, user_id=user_id, chat_id=user_id)
        self.out = out
        self._buttons: list[Button] = []

    def run(self, lines: Iterable[str | bytes], *, village: str | None = None) -> None:
        """Hold the conversation until /quit or the end of input (bytes are decoded safely)."""
        self._print(texts.CONSOLE_BANNER)
        self.show(self.service.start(self.sender, village))
        for line in lines:
            if isinstance(line, bytes):
                line, note = decode_line(line)
                if note:
                    self._print(note)
            text = line.rstrip("\r\n")
            if text.strip() in ("/quit", "/exit", "/q"):
                break
            self.show(self.handle(text))
            for released in self.service.release_held(self.sender):
                self.show(released)
            self.show(self.service.inbox(self.sender))
        self._print(texts.CONSOLE_BYE)

    def handle(self, text: str) -> Outcome:
        """Turn one typed line into a service call."""
        stripped = text.strip()
        if stripped.startswith("/"):
            command, _, arg = stripped.partition(" ")
            name = command[1:].lower()
            if name == "inbox":
                return self.service.inbox(self.sender)
            return self.service.command(self.sender, name, arg.strip())
        if stripped.isdigit() and self._buttons and 1 <= int(stripped) <= len(self._buttons):
            return self.service.act(self.sender, self._buttons[int(stripped) - 1].action)
        return self.service.ask(self.sender, text)

    def show(self, outcome: Outcome) -> None:
        """Print the replies, numbering the buttons of the last one."""
        if outcome.replies:
            self._buttons = []
        for reply in outcome.replies:
            self._print_reply(reply)

    def _print_reply(self, reply: Reply) -> None:
        self._print("")
        self._print(reply.text)
        buttons = reply.flat_buttons()
        if buttons:
            self._buttons = buttons
            for number, button in enumerate(buttons, 1):
                self._print(f"  [{number}] {button.label}")

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()
