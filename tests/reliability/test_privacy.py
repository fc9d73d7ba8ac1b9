"""Privacy: what reaches the logs at INFO level during a scenario, and the retention purge."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
import typer
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import ops as cli_ops
from bot.config import Config
from bot.services.consultation import ConsultationService, Sender
from bot.services.privacy import mask_numbers
from knowledge.models import KnowledgeBase
from storage.clock import utcnow
from storage.models import Consultation
from storage.repositories import PURGED
from tests.reliability.conftest import RBot

PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_CARD = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
SECRETS = [
    "我的电话13912345678，身份证号码362329198807150012，邻居把我家的地占了怎么办",
    "老板欠我三个月工资一直不给，我叫李秀英，电话是 139-1234-5678",
    "我老公喝醉了就打我，身份证36232919880715001X也被他扣着",
    "宅基地上盖房子需要审批吗我家在外洪村三组住",
]


async def _scenario(bot: RBot, kb: KnowledgeBase) -> None:
    em = bot.emulator
    users = [6001, 6002, 6003, 6004]
    em.send_text(users[0], "/start waihong")
    for user, text in zip(users, SECRETS, strict=True):
        em.send_text(user, text)
    for i in range(30):
        em.send_text(7000 + i, kb.entries[i].question + " 联系我13800001111")
    last = em.send_text(users[0], "/mydata")
    await em.wait_for(lambda: em.confirmed_offset > last, within=20)
    await em.wait_for(lambda: not bot.journal.in_flight, within=20)


async def test_no_personal_numbers_or_question_texts_in_info_logs(
    rbot: RBot, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    logging.getLogger("httpx").setLevel(
        logging.WARNING
    )  # as `lawbot run` does (URLs carry the token)
    with caplog.at_level(logging.INFO):
        await _scenario(rbot, kb)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert lines, "the scenario logged nothing at all"
    questions = SECRETS + [e.question for e in kb.entries[:30]]
    for line in lines:
        assert not PHONE.search(line), line
        assert not ID_CARD.search(line), line
        assert "123456:TEST-TOKEN" not in line
        for question in questions:
            assert question[:12] not in line, line
    assert not rbot.errors


def test_purge_anonymises_old_texts_and_keeps_counts(
    service: ConsultationService, config: Config
) -> None:
    alice = Sender("telegram", "6101", "6101")
    for text in SECRETS:
        service.ask(alice, text)
    now = service.clock()
    with service.db.session() as session:
        rows = session.exec(select(Consultation).order_by(Consultation.id)).all()
        for row in rows[:2]:
            row.created_at = now - timedelta(days=40)
            session.add(row)
    decisions_before = _decisions(service)
    counts = cli_ops.purge_texts(service.db, 30, now=now)
    assert counts["consultations"] == 2
    assert counts["kept_rows"] == len(SECRETS)
    with service.db.session() as session:
        rows = session.exec(select(Consultation).order_by(Consultation.id)).all()
        assert [r.raw_text for r in rows[:2]] == [PURGED, PURGED]
        assert all(r.normalized_text == "" for r in rows[:2])
        # Newer texts are kept, with their phone and ID numbers masked when stored.
        assert [r.raw_text for r in rows[2:]] == [mask_numbers(t) for t in SECRETS[2:]]
    assert _decisions(service) == decisions_before
    assert cli_ops.purge_texts(service.db, 30, now=now)["consultations"] == 0  # idempotent


def _decisions(service: ConsultationService) -> list[tuple[object, ...]]:
    with service.db.session() as session:
        return [
            (r.id, r.decision, r.faq_id, r.topic_key, r.village_code, r.created_at)
            for r in session.exec(select(Consultation).order_by(Consultation.id)).all()
        ]


def test_lawbot_purge_command(service: ConsultationService, config: Config) -> None:
    service.ask(Sender("telegram", "6201", "6201"), SECRETS[3])
    with service.db.session() as session:
        row = session.exec(select(Consultation)).one()
        row.created_at = utcnow() - timedelta(days=800)
        session.add(row)
    app = typer.Typer()
    cli_ops.register(app, lambda: config)
    result = CliRunner().invoke(
        app, ["purge", "--older-than", "365", "--database-url", service.db.url]
    )
    assert result.exit_code == 0, result.output
    assert "anonymised 1 consultations" in result.output
    with service.db.session() as session:
        assert session.exec(select(Consultation)).one().raw_text == PURGED
