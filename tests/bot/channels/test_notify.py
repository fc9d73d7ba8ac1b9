"""Notices on every channel: the router, e-mail copies through a real local SMTP server, and the
scheduler of `lawbot serve` sending an urgent alarm."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import socket
from collections.abc import Iterator
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from bot import texts
from bot.channels.email import EmailNotifier
from bot.channels.notify import NoticeRouter
from bot.channels.scheduler import Scheduler
from bot.config import Notify
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Notice, Sender
from bot.services.replies import Reply
from bot.wiring import services_for
from storage.clock import ManualClock

VILLAGER = Sender("telegram", "4101", "4101")


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )  # type: ignore[attr-defined]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(name="smtp")
def smtp_fixture() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def _settings(port: int, emails: dict[str, str]) -> Notify:
    return Notify(
        smtp_url=f"smtp://127.0.0.1:{port}", from_address="bot@sfs.example.cn", emails=emails
    )


async def test_the_router_sends_each_channel_to_its_sender_and_skips_pulled_channels(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: dict[str, list[Notice]] = {"telegram": [], "copy": []}

    async def telegram(notices: tuple[Notice, ...]) -> None:
        got["telegram"] += notices

    async def broken(notices: tuple[Notice, ...]) -> None:
        raise RuntimeError("wechat down")

    async def copy(notices: tuple[Notice, ...]) -> None:
        got["copy"] += notices

    router = NoticeRouter({"telegram": telegram, "wechat": broken}, [copy])
    notices = (
        Notice("1", Reply("卡片")),
        Notice("web:abc", Reply("顾问答复"), channel="web"),
        Notice("o1", Reply("答复"), channel="wechat"),
        Notice("x", Reply("?"), channel="sms"),
    )
    with caplog.at_level(logging.WARNING):
        await router(notices)
        await router(notices)
    assert [n.user_id for n in got["telegram"]] == ["1", "1"]
    assert len(got["copy"]) == 8, "copies see every notice, even when a channel failed"
    assert sum("no sms sender" in r.getMessage() for r in caplog.records) == 1
    assert not any("web" in r.getMessage() and "no " in r.getMessage() for r in caplog.records)


async def test_cards_reach_advisors_by_email_and_others_are_not_mailed(
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    notifier = EmailNotifier(_settings(port, {"100000101": "zhang@example.cn"}))
    await notifier(
        (
            Notice(
                "100000101",
                Reply("📋 新咨询 #7｜外洪村\n问题：邻居占了我家宅基地"),
                escalation_id=7,
            ),
            Notice("2001", Reply("给村民的话")),
        )
    )
    [message] = inbox.messages
    assert message["To"] == "zhang@example.cn"
    assert message["Subject"].startswith("📋 新咨询 #7")
    body = message.get_payload(decode=True).decode("utf-8")  # type: ignore[union-attr]
    assert "宅基地" in body
    assert "lawbot advisor queue" in body


async def test_an_unreachable_smtp_server_is_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifier = EmailNotifier(_settings(_free_port(), {"1": "a@example.cn"}))
    with caplog.at_level(logging.ERROR):
        await notifier((Notice("1", Reply("卡片")),))
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "SMTP server 127.0.0.1" in record.getMessage()
    assert record.exc_info is None


async def test_the_serve_scheduler_alerts_office_and_staff_by_email(
    service: ConsultationService, clock: ManualClock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    office = str(service.config.justice_office.telegram_ids[0])
    pushed: list[Notice] = []

    async def telegram(notices: tuple[Notice, ...]) -> None:
        pushed.extend(notices)

    router = NoticeRouter(
        {"telegram": telegram}, [EmailNotifier(_settings(port, {office: "sfs@example.cn"}))]
    )
    scheduler = Scheduler(services_for(service), router, sweep_seconds=0.05)
    service.start(VILLAGER, "waihong")
    assert service.ask(VILLAGER, "救命 有人拿刀在我家门口砍人").decision == "urgent"
    clock.advance(minutes=service.config.sla.urgent_minutes + 1)
    async with scheduler.running():
        for _ in range(100):
            if inbox.messages:
                break
            await asyncio.sleep(0.05)
    alarms = [n for n in pushed if "还没有人认领" in n.reply.text]
    assert office in {n.user_id for n in alarms}
    assert any(
        "还没有人认领" in (m.get_payload(decode=True) or b"").decode() for m in inbox.messages
    )  # type: ignore[union-attr]
    assert texts.EMAIL_FOOTER.strip()[:10] in inbox.messages[0].get_payload(decode=True).decode()  # type: ignore[union-attr]
