"""Staff commands in the real Application: refusals, /campaigns, /preview, /send_now, /cancel,
/broadcast with confirmation; push buttons; jobs with deterministic ids."""

from __future__ import annotations

from collections import Counter

from sqlmodel import select

from bot import texts as bot_texts
from bot.channels.telegram.campaign_handlers import schedule_campaign_jobs
from storage.campaign_models import CampaignDelivery
from storage.db import Database
from storage.models import Villager
from tests.bot.services.campaigns.conftest import CampaignBot, add_villagers

STAFF = 100000901
OUTSIDER = 4242


async def _said(bot: CampaignBot, chat: int, text: str, *, count: int = 1) -> list[str]:
    await bot.emulator.wait_for(lambda: len(bot.emulator.texts_to(chat)) >= count)
    return bot.emulator.texts_to(chat)


async def test_non_staff_are_refused(campaign_bot: CampaignBot, db: Database) -> None:
    chats = add_villagers(db, 3)
    emulator = campaign_bot.emulator
    for n, command in enumerate(
        [
            "/campaigns",
            "/preview constitution_day.week",
            "/send_now constitution_day.week",
            "/cancel constitution_day.week",
            "/broadcast 明天停水",
        ],
        start=1,
    ):
        emulator.send_text(OUTSIDER, command)
        await emulator.wait_for(lambda n=n: len(emulator.texts_to(OUTSIDER)) >= n)
    assert emulator.texts_to(OUTSIDER) == [bot_texts.CAMPAIGN_STAFF_ONLY] * 5
    assert all(emulator.texts_to(c) == [] for c in chats)
    emulator.press(OUTSIDER, "bc:a:deadbeef")
    await emulator.wait_for(lambda: len(emulator.sent("answerCallbackQuery")) >= 1)
    assert all(emulator.texts_to(c) == [] for c in chats)


async def test_campaigns_preview_send_now_and_cancel(
    campaign_bot: CampaignBot, db: Database
) -> None:
    chats = add_villagers(db, 5)
    emulator = campaign_bot.emulator
    emulator.send_text(STAFF, "/campaigns")
    (listing,) = await _said(campaign_bot, STAFF, "")
    assert listing.startswith(bot_texts.CAMPAIGN_UPCOMING_HEADER)
    assert "2026-11-27 09:00  constitution_day.week" in listing
    assert "约5人" in listing

    emulator.send_text(STAFF, "/preview constitution_day.week")
    texts = await _said(campaign_bot, STAFF, "", count=2)
    assert texts[1].startswith("【预览，仅发给您】constitution_day.week")
    assert "宪法" in texts[1]
    assert all(emulator.texts_to(c) == [] for c in chats)

    emulator.send_text(STAFF, "/send_now constitution_day.week")
    texts = await _said(campaign_bot, STAFF, "", count=4)
    assert texts[2] == bot_texts.CAMPAIGN_SEND_STARTED.format(key="constitution_day.week", size=5)
    assert texts[3].startswith("推送 constitution_day.week 完成：发出5")
    assert all(len(emulator.texts_to(c)) == 1 for c in chats)
    # a second /send_now of the same push does not send again
    emulator.send_text(STAFF, "/send_now constitution_day.week")
    texts = await _said(campaign_bot, STAFF, "", count=5)
    assert texts[4] == bot_texts.CAMPAIGN_ALREADY_SENT.format(
        key="constitution_day.week", day="2026-11-27"
    )
    assert all(len(emulator.texts_to(c)) == 1 for c in chats)

    emulator.send_text(STAFF, "/cancel constitution_day.eve")
    texts = await _said(campaign_bot, STAFF, "", count=6)
    assert texts[5] == bot_texts.CAMPAIGN_CANCELLED.format(
        key="constitution_day.eve", when="2026-12-03 09:00"
    )
    assert "constitution_day.eve" in listing
    emulator.send_text(STAFF, "/send_now constitution_day.eve")
    texts = await _said(campaign_bot, STAFF, "", count=7)
    assert texts[6].startswith("推送 constitution_day.eve（2026-12-03）已经发过或已取消")
    emulator.send_text(STAFF, "/preview nothing.here")
    texts = await _said(campaign_bot, STAFF, "", count=8)
    assert texts[7] == bot_texts.CAMPAIGN_UNKNOWN_PUSH.format(key="nothing.here")


async def test_push_buttons_record_clicks_and_unsubscribe(
    campaign_bot: CampaignBot, db: Database
) -> None:
    chats = add_villagers(db, 2)
    emulator = campaign_bot.emulator
    emulator.send_text(STAFF, "/send_now constitution_day.week")
    await emulator.wait_for(lambda: all(emulator.texts_to(c) for c in chats))
    with db.session() as session:
        ids = {d.chat_id: d.id for d in session.exec(select(CampaignDelivery)).all()}
    emulator.press(chats[0], f"cf:{ids[str(chats[0])]}")
    emulator.press(chats[1], f"cu:{ids[str(chats[1])]}")
    await emulator.wait_for(lambda: bot_texts.CAMPAIGN_UNSUBSCRIBED in emulator.texts_to(chats[1]))
    await emulator.wait_for(
        lambda: (
            bot_texts.CAMPAIGN_THANKS_USEFUL
            in [p.get("text") for p in emulator.sent("answerCallbackQuery")]
        )
    )
    with db.session() as session:
        subscribed = {v.chat_id: v.subscribed for v in session.exec(select(Villager)).all()}
    assert subscribed == {str(chats[0]): True, str(chats[1]): False}
    (report,) = campaign_bot.campaigns.reports()
    assert report.clicks == {"useful": 1, "unsubscribe": 1}
    # the villager "unknown command" handler never answered the button
    assert emulator.texts_to(chats[0]) == emulator.texts_to(chats[0])[:1]


async def test_broadcast_needs_confirmation_and_respects_the_audience(
    campaign_bot: CampaignBot, db: Database
) -> None:
    waihong = add_villagers(db, 3, villages=("waihong",))
    others = add_villagers(db, 2, villages=("shaofan",), first=7_000_000)
    emulator = campaign_bot.emulator
    emulator.send_text(STAFF, "/broadcast 明天上午九点村委会召开普法讲座。")
    await emulator.wait_for(lambda: len(emulator.texts_to(STAFF)) >= 1)
    confirm = emulator.sent("sendMessage", STAFF)[0]
    assert "明天上午九点" in confirm["text"]
    buttons = [b for row in confirm["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons[0]["text"] == bot_texts.CAMPAIGN_BROADCAST_ALL.format(size=5)
    assert all(emulator.texts_to(c) == [] for c in waihong + others)  # nothing before confirming
    choice = next(b["callback_data"] for b in buttons if b["text"] == "外洪村")
    emulator.press(STAFF, choice)
    await emulator.wait_for(lambda: all(emulator.texts_to(c) for c in waihong))
    await emulator.wait_for(lambda: len(emulator.texts_to(STAFF)) >= 3)
    assert all(emulator.texts_to(c) == [] for c in others)
    assert emulator.texts_to(waihong[0])[0].endswith("明天上午九点村委会召开普法讲座。")
    emulator.press(STAFF, choice)  # a second press of the same confirmation does nothing
    await emulator.wait_for(
        lambda: bot_texts.CAMPAIGN_BROADCAST_EXPIRED in emulator.texts_to(STAFF)
    )
    assert Counter(int(p["chat_id"]) for p in emulator.sent()).get(waihong[0]) == 1


async def test_jobs_have_deterministic_ids_and_are_not_doubled(campaign_bot: CampaignBot) -> None:
    application = campaign_bot.application
    job_queue = application.job_queue
    assert job_queue is not None
    await campaign_bot.emulator.wait_for(
        lambda: bool(job_queue.get_jobs_by_name("campaign:constitution_day.week:2026-11-27"))
    )
    before = sorted(j.job.id for j in job_queue.jobs())
    ids = await schedule_campaign_jobs(application, campaign_bot.campaigns)
    ids_again = await schedule_campaign_jobs(application, campaign_bot.campaigns)
    after = sorted(j.job.id for j in job_queue.jobs())
    assert ids == ids_again
    assert before == after
    assert len(after) == len(set(after))
    assert "campaign:fireworks.eve:2027-02-04" in after
