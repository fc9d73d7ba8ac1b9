"""The console channel: a terminal conversation through the same service as Telegram."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TextIO

from bot import texts
from bot.replies import Button, Reply
from bot.service import ConsultationService, Outcome, Sender

__all__ = ["ConsoleChat"]

CHANNEL = "console"


class ConsoleChat:
    """Read lines, call the service, print replies; typed numbers choose the last buttons."""

    def __init__(self, service: ConsultationService, *, user_id: str, out: TextIO) -> None:
        self.service = service
        self.sender = Sender(channel=CHANNEL, user_id=user_id, chat_id=user_id)
        self.out = out
        self._buttons: list[Button] = []
        self._commands: dict[str, Callable[[str], Outcome]] = {
            "/start": lambda arg: service.start(self.sender, arg or None),
            "/help": lambda _: service.help(self.sender),
            "/village": lambda _: service.village_prompt(self.sender),
            "/topics": lambda _: service.topics(self.sender),
            "/elder": lambda _: service.toggle_elder(self.sender),
            "/subscribe": lambda _: service.set_subscription(self.sender, subscribed=True),
            "/unsubscribe": lambda _: service.set_subscription(self.sender, subscribed=False),
            "/mydata": lambda _: service.my_data(self.sender),
            "/forget": lambda _: service.forget_prompt(self.sender),
            "/inbox": lambda _: service.inbox(self.sender),
        }

    def run(self, lines: Iterable[str], *, village: str | None = None) -> None:
        """Hold the conversation until /quit or the end of input."""
        self._print(texts.CONSOLE_BANNER)
        self.show(self.service.start(self.sender, village))
        for line in lines:
            text = line.rstrip("\n")
            if text.strip() in ("/quit", "/exit", "/q"):
                break
            self.show(self.handle(text))
            self.show(self.service.inbox(self.sender))
        self._print(texts.CONSOLE_BYE)

    def handle(self, text: str) -> Outcome:
        """Turn one typed line into a service call."""
        stripped = text.strip()
        if stripped.startswith("/"):
            command, _, arg = stripped.partition(" ")
            call = self._commands.get(command.lower())
            return call(arg.strip()) if call else self.service.unknown_command(self.sender)
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
