"""WeChat's 5-second rule and retries, and the customer-service API's failures (emulated)."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from sqlmodel import select

from bot import texts
from bot.channels.wechat import WechatClient, WechatNotifier, menu
from bot.channels.wechat.notifier import Delivery
from bot.config import Config
from bot.ops.wechat_emulator import Fault, WechatEmulator, event_xml, text_xml
from bot.services.outcomes import Outcome, Sender
from bot.wiring import services_for
from knowledge.models import Entry
from storage.models import Escalation, EscalationTurn
from tests.bot.channels.wechat.conftest import MakeWx, Wx, content, ledger_held, wait_for

OPENID = "oVillager0000000000000000002"


async def _escalate(wx: Wx) -> int:
    """Subscribe through 外洪村's code and ask for the advisor from the menu; the escalation id."""
    await wx.post(event_xml(OPENID, "subscribe", "qrscene_waihong", create_time=1_700_000_000))
    await wx.post(event_xml(OPENID, "CLICK", menu.ADVISOR, create_time=1_700_000_001))
    with wx.service.db.session() as session:
        (escalation,) = session.exec(select(Escalation)).all()
    assert escalation.id is not None
    return escalation.id


def _answer(wx: Wx, config: Config, escalation_id: int, text: str) -> Outcome:
    village = config.village("waihong")
    assert village is not None
    advisor = str(village.advisor_id)
    return wx.service.escalations.reply(Sender("telegram", advisor, advisor), escalation_id, text)


def _turns(wx: Wx) -> list[EscalationTurn]:
    with wx.service.db.session() as session:
        return list(session.exec(select(EscalationTurn).order_by(EscalationTurn.id)).all())


async def _slow(make_wx: MakeWx) -> Wx:
    """A channel that waits 10 ms for an answer, for a villager already bound to 外洪村."""
    await make_wx().post(event_xml(OPENID, "subscribe", "qrscene_waihong"))
    return make_wx(reply_seconds=0.01)


async def test_a_slow_reply_gets_an_empty_200_and_goes_out_as_a_customer_service_message(
    make_wx: MakeWx, answered: Entry
) -> None:
    wx = await _slow(make_wx)
    with ledger_held(wx.service):
        response = await wx.post(text_xml(OPENID, answered.question, msg_id=101))
    assert response.status_code == 200
    assert response.text == "success"
    await wait_for(lambda: any(c.replied_at for c in wx.consultations()))
    (sent,) = wx.emulator.texts_to(OPENID)
    assert answered.answer[:20] in sent


async def test_three_concurrent_retries_make_one_consultation_and_one_reply(
    make_wx: MakeWx, answered: Entry
) -> None:
    wx = await _slow(make_wx)
    xml = text_xml(OPENID, answered.question, msg_id=102)
    with ledger_held(wx.service):
        responses = await asyncio.gather(*(wx.post(xml) for _ in range(3)))
    assert [r.text for r in responses] == ["success"] * 3
    await wait_for(lambda: any(c.replied_at for c in wx.consultations()))
    await asyncio.sleep(0.2)
    (sent,) = wx.emulator.texts_to(OPENID)
    assert answered.answer[:20] in sent
    assert [c.update_key for c in wx.consultations()] == ["wechat:102"]


async def test_retries_of_an_answered_message_get_the_same_passive_reply_and_nothing_more(
    wx: Wx, answered: Entry
) -> None:
    # A new villager's first message: welcome, villages and answer are over one message's
    # 2048 bytes, so the rest goes out as a customer-service message, once.
    xml = text_xml(OPENID, answered.question, msg_id=103)
    replies = [content(await wx.post(xml)) for _ in range(3)]
    assert replies[0] is not None
    assert replies[0].startswith("您好")
    assert replies == [replies[0]] * 3
    assert [c.update_key for c in wx.consultations()] == ["wechat:103"]
    await asyncio.sleep(0.2)
    (rest,) = wx.emulator.texts_to(OPENID)
    assert answered.answer[:20] in replies[0] + rest
    assert len(replies[0].encode()) <= 2048


async def test_a_retry_reaching_a_restarted_channel_is_not_answered_again(
    make_wx: MakeWx, answered: Entry
) -> None:
    xml = text_xml(OPENID, answered.question, msg_id=104)
    first = make_wx()
    assert content(await first.post(xml)) is not None
    await wait_for(lambda: any(c.replied_at for c in first.consultations()))
    restarted = make_wx()  # a new process: its memory of jobs is empty, the ledger is not
    response = await restarted.post(xml)
    assert response.text == "success"
    assert len(restarted.consultations()) == 1


async def test_an_advisor_answer_is_sent_and_an_expired_token_is_refreshed_once(
    wx: Wx, config: Config
) -> None:
    escalation_id = await _escalate(wx)
    await wx.channel.notifier.deliver(
        _answer(wx, config, escalation_id, "请带上合同来村委会。").notices
    )
    assert "请带上合同来村委会。" in wx.emulator.texts_to(OPENID)[-1]
    assert wx.emulator.token_calls() == 1
    wx.emulator.expire_tokens()
    await wx.channel.notifier.deliver(
        _answer(wx, config, escalation_id, "周三上午也可以。").notices
    )
    assert "周三上午也可以。" in wx.emulator.texts_to(OPENID)[-1]
    assert wx.emulator.token_calls() == 2
    assert all(t.delivered_at is not None for t in _turns(wx) if t.author == "advisor")


async def test_an_answer_outside_the_48_hours_is_kept_and_comes_with_the_next_message(
    wx: Wx, config: Config
) -> None:
    escalation_id = await _escalate(wx)
    wx.emulator.fail("message/custom/send", Fault(45015, "response out of time limit"))
    await wx.channel.notifier.deliver(
        _answer(wx, config, escalation_id, "请带上合同来村委会。").notices
    )
    assert wx.emulator.texts_to(OPENID) == []
    (turn,) = [t for t in _turns(wx) if t.author == "advisor"]
    assert turn.delivered_at is None
    reply = await wx.say(OPENID, "谢谢")
    assert reply is not None
    assert texts.WECHAT_LATE_ANSWER_NOTE in reply
    assert reply.index(texts.WECHAT_LATE_ANSWER_NOTE) < reply.index("请带上合同来村委会。")
    (turn,) = [t for t in _turns(wx) if t.author == "advisor"]
    assert turn.delivered_at is not None
    assert "请带上合同来村委会。" not in (await wx.say(OPENID, "好的") or "")


async def test_over_the_message_limit_the_answer_is_tried_again_later(
    wx: Wx, config: Config
) -> None:
    escalation_id = await _escalate(wx)
    wx.emulator.fail("message/custom/send", Fault(45047, "out of response count limit"))
    await wx.channel.notifier.deliver(
        _answer(wx, config, escalation_id, "已经帮您问过了。").notices
    )
    assert wx.emulator.texts_to(OPENID) == []
    await wait_for(lambda: wx.emulator.texts_to(OPENID))
    assert "已经帮您问过了。" in wx.emulator.texts_to(OPENID)[0]
    await wait_for(lambda: all(t.delivered_at for t in _turns(wx) if t.author == "advisor"))


async def test_5xx_answers_are_retried_with_backoff_and_logged_once(
    wx: Wx, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    escalation_id = await _escalate(wx)
    wx.emulator.fail("message/custom/send", Fault(status=502, times=2))
    with caplog.at_level(logging.ERROR):
        await wx.channel.notifier.deliver(_answer(wx, config, escalation_id, "明天来。").notices)
    assert "明天来。" in wx.emulator.texts_to(OPENID)[-1]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert wx.emulator.base_url in errors[0].getMessage()


async def test_an_unreachable_api_leaves_the_message_undelivered_with_one_log_line(
    wx: Wx, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client = WechatClient(app_id="wx1", secret="s", base_url=url)
    notifier = WechatNotifier(services_for(wx.service), client, backoff=(0.01, 0.01))
    with caplog.at_level(logging.ERROR):
        assert await notifier.send(OPENID, "你好") is Delivery.FAILED
    await client.aclose()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "unreachable" in errors[0]
    assert url in errors[0]


async def test_a_wrong_secret_is_named_in_one_log_line(
    wx: Wx, emulator: WechatEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    client = WechatClient(app_id=emulator.app_id, secret="wrong", base_url=emulator.base_url)
    notifier = WechatNotifier(services_for(wx.service), client)
    with caplog.at_level(logging.ERROR):
        assert await notifier.send(OPENID, "你好") is Delivery.FAILED
        assert await notifier.send(OPENID, "你好") is Delivery.FAILED
    await client.aclose()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "LAWBOT_WECHAT_SECRET" in errors[0]
    assert emulator.sent == []
