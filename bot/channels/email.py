"""E-mail copies of advisor cards, reminders and urgent alerts (`[notify]`), for people who
cannot rely on Telegram. Sent with the standard library's SMTP client in a worker thread."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from bot import texts
from bot.config import Notify
from bot.services.outcomes import Notice

__all__ = ["EmailNotifier"]

logger = logging.getLogger(__name__)

SMTP_TIMEOUT = 10.0
SUBJECT_CHARS = 60


class EmailNotifier:
    """Send each notice addressed to a person with an address in `[notify] emails` by e-mail."""

    def __init__(self, settings: Notify, *, password: str | None = None) -> None:
        parts = urlsplit(settings.smtp_url)
        self.secure = parts.scheme == "smtps"
        self.host = parts.hostname or ""
        self.port = parts.port or (465 if self.secure else 25)
        self.settings = settings
        self.password = password if password is not None else Notify.password()

    def message(self, notice: Notice, address: str) -> EmailMessage:
        """Build the e-mail for one notice (buttons become a line on where to act)."""
        body = notice.reply.text
        first = body.strip().splitlines()[0] if body.strip() else texts.EMAIL_SUBJECT
        message = EmailMessage()
        message["From"] = self.settings.from_address
        message["To"] = address
        message["Subject"] = first[:SUBJECT_CHARS]
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.settings.from_address.split("@")[-1])
        footer = texts.EMAIL_FOOTER if notice.escalation_id is not None else ""
        message.set_content(body + footer)
        return message

    async def __call__(self, notices: tuple[Notice, ...]) -> None:
        outgoing = [
            self.message(n, self.settings.emails[n.user_id])
            for n in notices
            if n.user_id in self.settings.emails
        ]
        if outgoing:
            await asyncio.to_thread(self._send, outgoing)

    def _send(self, messages: list[EmailMessage]) -> None:
        try:
            if self.secure:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=SMTP_TIMEOUT,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
            with smtp:
                if not self.secure and smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                if self.settings.username and self.password:
                    smtp.login(self.settings.username, self.password)
                for message in messages:
                    smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            logger.error(
                "e-mail to %d recipient(s) not sent: SMTP server %s:%s: %s",
                len(messages),
                self.host,
                self.port,
                exc,
            )
