"""WeChat's posts to `/wechat`: URL check, plain and safe-mode messages, voice, media, events."""

from __future__ import annotations

import httpx
from sqlmodel import select

from bot import texts
from bot.channels.wechat import menu
from bot.config import Config
from bot.ops.wechat_emulator import (
    ACCOUNT,
    event_xml,
    media_xml,
    open_reply,
    text_xml,
    verification_params,
    voice_xml,
)
from knowledge.models import Entry
from storage import repositories as repo
from storage.models import Escalation, Villager
from tests.bot.channels.wechat.conftest import AES_KEY, TOKEN, Wx, content

OPENID = "oVillager0000000000000000001"


def _villager(wx: Wx, openid: str = OPENID) -> Villager:
    with wx.service.db.session() as session:
        found = repo.get_villager(session=session, channel="wechat", channel_user_id=openid)
        assert found is not None
        return found


async def _subscribe(wx: Wx, village: str = "waihong", openid: str = OPENID) -> str | None:
    response = await wx.post(event_xml(openid, "subscribe", f"qrscene_{village}"))
    return content(response)


async def test_the_url_check_echoes_echostr_when_the_signature_is_right(wx: Wx) -> None:
    response = await wx.http.get("/wechat", params=verification_params(TOKEN, "echo-4711"))
    assert response.status_code == 200
    assert response.text == "echo-4711"


async def test_the_url_check_and_posts_with_a_wrong_signature_are_refused(wx: Wx) -> None:
    params = verification_params("another-token", "echo-4711")
    response = await wx.http.get("/wechat", params=params)
    assert response.status_code == 403
    assert "echo-4711" not in response.text
    xml = text_xml(OPENID, "宅基地可以继承吗", msg_id=1)
    response = await wx.http.post("/wechat", params=params, content=xml.encode())
    assert response.status_code == 403
    assert wx.consultations() == []


async def test_a_plain_text_message_is_answered_passively_and_recorded_once(
    wx: Wx, answered: Entry
) -> None:
    await _subscribe(wx)
    response = await wx.post(text_xml(OPENID, answered.question, msg_id=42))
    fields = open_reply(response.text)
    assert fields is not None
    assert fields["ToUserName"] == OPENID
    assert fields["FromUserName"] == ACCOUNT
    assert fields["MsgType"] == "text"
    assert answered.answer[:20] in fields["Content"]
    assert texts.WECHAT_ADVISOR_HINT in fields["Content"]  # the advisor button as a keyword
    (consultation,) = wx.consultations()
    assert consultation.update_key == "wechat:42"
    assert consultation.channel == "wechat"
    assert consultation.replied_at is not None
    assert wx.emulator.sent == []  # nothing went through the customer-service API


async def test_a_safe_mode_message_is_decrypted_and_answered_encrypted(
    wx: Wx, answered: Entry
) -> None:
    await _subscribe(wx)
    response = await wx.post(text_xml(OPENID, answered.question, msg_id=43), aes=True)
    assert response.status_code == 200
    assert "<Encrypt>" in response.text
    assert answered.answer[:10] not in response.text  # not in the clear
    fields = open_reply(response.text, token=TOKEN, aes_key=AES_KEY, app_id=wx.emulator.app_id)
    assert fields is not None
    assert fields["ToUserName"] == OPENID
    assert answered.answer[:20] in fields["Content"]


async def test_a_safe_mode_message_with_a_forged_msg_signature_is_refused(wx: Wx) -> None:
    from bot.ops.wechat_emulator import aes_post

    params, body = aes_post(TOKEN, AES_KEY, wx.emulator.app_id, text_xml(OPENID, "你好", msg_id=5))
    params["msg_signature"] = "0" * 40
    response = await wx.http.post("/wechat", params=params, content=body.encode())
    assert response.status_code == 403
    assert wx.consultations() == []


async def test_a_voice_note_is_asked_by_its_recognition_and_without_one_asks_to_type(
    wx: Wx, answered: Entry
) -> None:
    await _subscribe(wx)
    response = await wx.post(voice_xml(OPENID, msg_id=61, recognition=answered.question + "。"))
    reply = content(response)
    assert reply is not None
    assert answered.answer[:20] in reply
    response = await wx.post(voice_xml(OPENID, msg_id=62))
    assert content(response) == texts.UNSUPPORTED["voice"]
    kinds = [(c.update_key, c.kind) for c in wx.consultations()]
    assert kinds == [("wechat:61", "text"), ("wechat:62", "voice")]


async def test_a_photo_gets_a_clear_reply(wx: Wx) -> None:
    await _subscribe(wx)
    response = await wx.post(media_xml(OPENID, "image", msg_id=71))
    assert content(response) == texts.UNSUPPORTED["photo"]


async def test_subscribing_through_a_village_qr_code_welcomes_and_binds_the_village(
    wx: Wx, config: Config
) -> None:
    reply = await _subscribe(wx, "waihong")
    assert reply is not None
    assert reply.startswith(texts.WELCOME.format(town=config.town.name)[:12])
    assert texts.VILLAGE_SET.format(village="外洪村") in reply
    assert _villager(wx).village_code == "waihong"
    # Scanning another village's code later moves the villager there.
    response = await wx.post(event_xml(OPENID, "SCAN", "shaofan"))
    assert content(response) == texts.VILLAGE_SET.format(village="邵畈村")
    assert _villager(wx).village_code == "shaofan"


async def test_without_a_scene_the_villages_are_numbered_and_a_typed_number_binds_one(
    wx: Wx,
) -> None:
    response = await wx.post(event_xml(OPENID, "subscribe"))
    reply = content(response)
    assert reply is not None
    line = next(ln for ln in reply.splitlines() if ln.endswith(". 邵畈村"))
    number = line.split(".")[0]
    assert texts.WECHAT_CHOICE_HINT in reply
    assert await wx.say(OPENID, number) == texts.VILLAGE_SET.format(village="邵畈村")
    assert _villager(wx).village_code == "shaofan"


async def test_a_suggest_list_keeps_the_service_numbers_and_a_typed_number_picks(
    wx: Wx,
) -> None:
    await _subscribe(wx)
    service = wx.service
    question = next(
        q
        for q in ("邻居的事", "土地的问题", "钱的事情怎么办", "房子的问题", "孩子的事")
        if service.matcher.match(q).decision == "suggest"
    )
    reply = await wx.say(OPENID, question)
    assert reply is not None
    assert texts.SUGGEST_NUMBERED_HINT in reply
    first = service.matcher.match(question).candidates[0].entry
    assert f"1. {first.question}" in reply
    picked = await wx.say(OPENID, "1")
    assert picked is not None
    assert first.answer[:20] in picked


async def test_the_menu_clicks_map_to_help_topics_and_the_advisor(wx: Wx, config: Config) -> None:
    await _subscribe(wx, "waihong")
    assert await _click(wx, menu.CONSULT) == texts.HELP
    topics = await _click(wx, menu.LEARN)
    assert topics is not None
    assert topics.startswith(texts.TOPICS_INTRO)
    assert f"1. {wx.service.kb.topics[0].name}" in topics
    village = config.village("waihong")
    assert village is not None
    reply = await _click(wx, menu.ADVISOR)
    assert reply is not None
    assert village.advisor_name in reply
    with wx.service.db.session() as session:
        assert len(session.exec(select(Escalation)).all()) == 1
    assert any(n.escalation_id is not None for n in wx.notices)  # the card, for Telegram


async def test_typing_the_advisor_keyword_after_an_answer_passes_that_question_on(
    wx: Wx, answered: Entry
) -> None:
    await _subscribe(wx)
    await wx.say(OPENID, answered.question)
    asked = wx.consultations()[-1]
    reply = await wx.say(OPENID, texts.WECHAT_ADVISOR_KEYWORD)
    assert reply is not None
    assert "外洪村法律顾问" in reply
    with wx.service.db.session() as session:
        (escalation,) = session.exec(select(Escalation)).all()
    assert escalation.consultation_id == asked.id


async def test_unsubscribing_stops_the_pushes_and_answers_nothing(wx: Wx) -> None:
    await _subscribe(wx)
    assert _villager(wx).subscribed
    response = await wx.post(event_xml(OPENID, "unsubscribe"))
    assert response.status_code == 200
    assert content(response) is None
    assert not _villager(wx).subscribed


_clicks = iter(range(1_800_000_000, 1_900_000_000))


async def _click(wx: Wx, key: str) -> str | None:
    # Each click its own second (the event key: FromUserName, CreateTime, Event, EventKey).
    xml = event_xml(OPENID, "CLICK", key, create_time=next(_clicks))
    response: httpx.Response = await wx.post(xml)
    return content(response)
