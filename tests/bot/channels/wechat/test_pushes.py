"""Publicity pushes reach WeChat followers: the per-channel sender, WeChat's 48-hour window,
43004/transient errors, 👍有用/退订 by typed number, the serve scheduler, and event dedupe keys.

Everything real: the campaign service on the test database, the WeChat channel posted to as
WeChat posts, the WeChat API emulator and the Telegram Bot API emulator on 127.0.0.1. The service
clock and the emulator's clock are set by hand: nothing depends on today's date or on speed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlmodel import select
from telegram import Bot

from bot import texts
from bot.channels.scheduler import Scheduler
from bot.channels.telegram.campaign_handlers import telegram_sender
from bot.channels.wechat import menu
from bot.channels.wechat.app import inbound
from bot.channels.wechat.pushes import wechat_sender
from bot.channels.wechat.render import Choices, Offer
from bot.config import Config
from bot.ops.telegram_emulator import Emulator
from bot.ops.wechat_emulator import (
    SEND_PATH,
    TEMPLATE_ID,
    WINDOW_SECONDS,
    Fault,
    WechatEmulator,
    event_xml,
)
from bot.services.campaign_config import EXAMPLE_SCHEDULE_TOML, parse_schedule
from bot.services.campaign_schedule import Occurrence
from bot.services.campaigns import CampaignService, SendFunc
from bot.services.consultation import ConsultationService
from bot.services.outcomes import Notice
from storage import repositories as repo
from storage.campaign_models import CampaignClick, CampaignDelivery
from storage.clock import ManualClock
from storage.models import Consultation, Villager
from tests.bot.channels.wechat.conftest import MakeWx, Wx, content
from tests.bot.services.campaigns.conftest import FAST, add_villagers

FOLLOWER = "oFollower00000000000000000001"
OTHER = "oFollower00000000000000000002"
TG_TOKEN = "123456:TEST-TOKEN"
WECHAT_NOW = 1_900_000_000.0  # the emulator's clock (seconds), set by hand


class WechatClock:
    """WeChat's time in the emulator, set by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(name="wechat_time")
def wechat_time_fixture(emulator: WechatEmulator) -> WechatClock:
    clock = WechatClock(WECHAT_NOW)
    emulator.clock = clock
    return clock


@pytest.fixture(name="pushing")
def pushing_fixture(
    service: ConsultationService, config: Config, emulator: WechatEmulator
) -> ConsultationService:
    """The consultation service with `[wechat] app_id` set: WeChat followers are an audience."""
    wechat = config.wechat.model_copy(update={"app_id": emulator.app_id})
    service.config = config.model_copy(update={"wechat": wechat})
    return service


@pytest.fixture(name="telegram")
def telegram_fixture() -> Iterator[Emulator]:
    emulator = Emulator(seed=7)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(name="bot")
async def bot_fixture(telegram: Emulator) -> AsyncIterator[Bot]:
    bot = Bot(TG_TOKEN, base_url=telegram.base_url)
    async with bot:
        yield bot


def _campaigns(wx: Wx) -> CampaignService:
    """The channel's own campaign service, with the example schedule and fast pacing."""
    campaigns = wx.channel.services.campaigns
    campaigns.schedule = parse_schedule(EXAMPLE_SCHEDULE_TOML)
    campaigns.pacing = FAST
    return campaigns


def _due(campaigns: CampaignService, clock: ManualClock, key: str) -> Occurrence:
    occ = campaigns.next_occurrence(key)
    assert occ is not None
    clock.set(occ.at)
    return occ


async def _follow(wx: Wx, openid: str = FOLLOWER, village: str = "waihong") -> None:
    await wx.post(event_xml(openid, "subscribe", f"qrscene_{village}"))
    wx.emulator.interact(openid)  # WeChat counts the follow as an interaction


def _senders(wx: Wx, bot: Bot | None = None) -> dict[str, SendFunc]:
    push = wx.channel.push_sender()
    assert push is not None
    return {"wechat": push} | ({"telegram": telegram_sender(bot)} if bot is not None else {})


def _delivery(wx: Wx, chat_id: str) -> CampaignDelivery:
    with wx.service.db.session() as session:
        found = session.exec(
            select(CampaignDelivery)
            .where(CampaignDelivery.chat_id == chat_id)
            .order_by(CampaignDelivery.id.desc())  # type: ignore[union-attr]
        ).first()
        assert found is not None
        return found


def _villager(wx: Wx, openid: str = FOLLOWER) -> Villager:
    with wx.service.db.session() as session:
        found = repo.get_villager(session=session, channel="wechat", channel_user_id=openid)
        assert found is not None
        return found


# --- one push, two channels -------------------------------------------------------------------


async def test_one_push_reaches_a_wechat_follower_and_a_telegram_villager(
    pushing: ConsultationService,
    make_wx: MakeWx,
    clock: ManualClock,
    bot: Bot,
    telegram: Emulator,
    wechat_time: WechatClock,
) -> None:
    wx = make_wx()
    campaigns = _campaigns(wx)
    await _follow(wx)
    (chat,) = add_villagers(pushing.db, 1, villages=("waihong",))
    add_villagers(pushing.db, 1, first=7_000_000, channel="web")  # no push address
    occ = _due(campaigns, clock, "constitution_day.day")
    assert campaigns.audience_size(occ.villages) == 2
    counts = await campaigns.execute(occ, _senders(wx, bot))
    assert counts == {"sent": 2}
    (wechat_text,) = wx.emulator.texts_to(FOLLOWER)
    (telegram_text,) = telegram.texts_to(chat)
    run_text = campaigns.render(occ)
    assert wechat_text.startswith(run_text)
    assert telegram_text == run_text
    assert "1. 👍有用" in wechat_text
    assert "2. 退订" in wechat_text
    assert texts.WECHAT_CHOICE_HINT in wechat_text
    assert _delivery(wx, FOLLOWER).state == "sent"
    assert _delivery(wx, str(chat)).state == "sent"


async def test_a_lone_telegram_sender_leaves_the_wechat_deliveries_for_a_wechat_process(
    pushing: ConsultationService,
    make_wx: MakeWx,
    clock: ManualClock,
    bot: Bot,
    telegram: Emulator,
    wechat_time: WechatClock,
) -> None:
    wx = make_wx()
    campaigns = _campaigns(wx)
    await _follow(wx)
    (chat,) = add_villagers(pushing.db, 1, villages=("waihong",))
    occ = _due(campaigns, clock, "constitution_day.day")
    # `lawbot run` (Telegram only) fires the push: the follower's copy waits, the run stays open
    assert await campaigns.execute(occ, telegram_sender(bot)) == {"sent": 1, "pending": 1}
    assert wx.emulator.texts_to(FOLLOWER) == []
    assert len(telegram.texts_to(chat)) == 1
    # the `lawbot serve` leader fires the same push: only the follower's copy goes out
    assert await campaigns.execute(occ, _senders(wx, bot)) == {"sent": 2}
    assert len(wx.emulator.texts_to(FOLLOWER)) == 1
    assert len(telegram.texts_to(chat)) == 1
    assert campaigns.reports()[0].state == "done"


# --- WeChat's rules -----------------------------------------------------------------------------


async def test_outside_the_48_hour_window_a_push_goes_as_a_template_message(
    pushing: ConsultationService,
    make_wx: MakeWx,
    clock: ManualClock,
    wechat_time: WechatClock,
) -> None:
    wx = make_wx(push_template_id=TEMPLATE_ID)
    campaigns = _campaigns(wx)
    await _follow(wx)
    wechat_time.now += WINDOW_SECONDS + 3600  # the follower last wrote 49 hours ago
    occ = _due(campaigns, clock, "constitution_day.day")
    assert await campaigns.execute(occ, _senders(wx)) == {"sent": 1}
    assert wx.emulator.texts_to(FOLLOWER) == []
    (fields,) = wx.emulator.templates_to(FOLLOWER)
    assert fields["first"] == texts.WECHAT_PUSH_TEMPLATE_TITLE.format(
        town=wx.service.config.town.name
    )
    assert fields["keyword1"][:20] == " ".join(campaigns.render(occ).split())[:20]
    assert len(fields["keyword1"]) <= 200
    assert fields["remark"] == texts.WECHAT_PUSH_TEMPLATE_REMARK
    assert _delivery(wx, FOLLOWER).attempts == 1


async def test_outside_the_window_without_a_template_the_delivery_is_skipped_with_the_reason(
    pushing: ConsultationService,
    make_wx: MakeWx,
    clock: ManualClock,
    wechat_time: WechatClock,
) -> None:
    wx = make_wx()
    campaigns = _campaigns(wx)
    await _follow(wx)
    wechat_time.now += WINDOW_SECONDS + 60
    occ = _due(campaigns, clock, "constitution_day.day")
    assert await campaigns.execute(occ, _senders(wx)) == {"skipped": 1}
    delivery = _delivery(wx, FOLLOWER)
    assert (delivery.attempts, delivery.sent_at) == (1, None)
    assert delivery.error is not None
    assert "45015" in delivery.error
    assert "push_template_id" in delivery.error
    assert wx.emulator.texts_to(FOLLOWER) == []
    assert wx.emulator.templates_to(FOLLOWER) == []
    villager = _villager(wx)
    assert (villager.subscribed, villager.active) == (True, True)  # still in the next audience
    # once the follower writes again, the next push is a customer-service message again
    wx.emulator.interact(FOLLOWER)
    occ2 = _due(campaigns, clock, "anti_fraud.day")
    assert await campaigns.execute(occ2, _senders(wx)) == {"sent": 1}
    assert len(wx.emulator.texts_to(FOLLOWER)) == 1


async def test_over_the_message_limit_the_push_is_skipped_not_failed(
    pushing: ConsultationService,
    make_wx: MakeWx,
    clock: ManualClock,
    wechat_time: WechatClock,
) -> None:
    wx = make_wx()
    wx.emulator.messages_per_interaction = 0  # WeChat's 45047 at once
    campaigns = _campaigns(wx)
    await _follow(wx)
    occ = _due(campaigns, clock, "constitution_day.day")
    assert await campaigns.execute(occ, _senders(wx)) == {"skipped": 1}
    error = _delivery(wx, FOLLOWER).error
    assert error is not None
    assert "45047" in error
    assert _villager(wx).active


async def test_an_unfollowed_villager_is_marked_inactive_and_left_out_of_the_next_push(
    pushing: ConsultationService,
    make_wx: MakeWx,
    clock: ManualClock,
    wechat_time: WechatClock,
) -> None:
    wx = make_wx(push_template_id=TEMPLATE_ID)
    campaigns = _campaigns(wx)
    await _follow(wx)
    await _follow(wx, OTHER)
    wx.emulator.unfollow(FOLLOWER)  # the unsubscribe event never reached the bot
    occ = _due(campaigns, clock, "constitution_day.day")
    assert await campaigns.execute(occ, _senders(wx)) == {"deactivated": 1, "sent": 1}
    assert _delivery(wx, FOLLOWER).state == "deactivated"
    assert not _villager(wx).active
    occ2 = _due(campaigns, clock, "anti_fraud.day")
    assert await campaigns.execute(occ2, _senders(wx)) == {"sent": 1}
    assert len(wx.emulator.texts_to(OTHER)) == 2


async def test_transient_errors_are_retried_and_an_expired_token_is_refreshed(
    pushing: ConsultationService,
    make_wx: MakeWx,
    clock: ManualClock,
    wechat_time: WechatClock,
) -> None:
    wx = make_wx()
    campaigns = _campaigns(wx)
    await _follow(wx)
    occ = _due(campaigns, clock, "constitution_day.day")
    await campaigns.execute(occ, _senders(wx))  # a token is fetched
    tokens = wx.emulator.token_calls()
    wx.emulator.expire_tokens()
    wx.emulator.fail(SEND_PATH, Fault(status=502))
    wx.emulator.fail(SEND_PATH, Fault(errcode=-1, errmsg="system error"))
    wx.emulator.fail(SEND_PATH, Fault(errcode=45009, errmsg="reach max api daily quota limit"))
    occ2 = _due(campaigns, clock, "anti_fraud.day")
    assert await campaigns.execute(occ2, _senders(wx)) == {"sent": 1}
    delivery = _delivery(wx, FOLLOWER)
    assert delivery.attempts == 4  # 502, -1, 45009, then sent (with a new token)
    assert wx.emulator.token_calls() == tokens + 1
    assert len(wx.emulator.texts_to(FOLLOWER)) == 2


async def test_transient_errors_that_do_not_end_fail_the_delivery_after_the_bounded_tries(
    pushing: ConsultationService,
    make_wx: MakeWx,
    clock: ManualClock,
    wechat_time: WechatClock,
) -> None:
    wx = make_wx()
    campaigns = _campaigns(wx)
    await _follow(wx)
    wx.emulator.fail(SEND_PATH, Fault(status=503, times=100))
    occ = _due(campaigns, clock, "constitution_day.day")
    assert await campaigns.execute(occ, _senders(wx)) == {"failed": 1}
    delivery = _delivery(wx, FOLLOWER)
    assert delivery.attempts == FAST.max_attempts
    assert _villager(wx).active


# --- 👍有用 / 退订 by typed number ----------------------------------------------------------------


def _clicks(wx: Wx) -> list[str]:
    with wx.service.db.session() as session:
        return sorted(c.kind for c in session.exec(select(CampaignClick)).all())


async def test_typing_the_numbers_after_a_push_records_useful_and_unsubscribes(
    pushing: ConsultationService,
    make_wx: MakeWx,
    clock: ManualClock,
    wechat_time: WechatClock,
) -> None:
    wx = make_wx()
    campaigns = _campaigns(wx)
    await _follow(wx)
    occ = _due(campaigns, clock, "constitution_day.day")
    await campaigns.execute(occ, _senders(wx))
    assert await wx.say(FOLLOWER, "1") == texts.CAMPAIGN_THANKS_USEFUL
    assert await wx.say(FOLLOWER, "２") == texts.CAMPAIGN_UNSUBSCRIBED  # a full-width 2
    assert _clicks(wx) == ["unsubscribe", "useful"]
    assert not _villager(wx).subscribed
    assert wx.consultations() == []  # the numbers were choices, not questions
    occ2 = _due(campaigns, clock, "anti_fraud.day")
    assert await campaigns.execute(occ2, _senders(wx)) is not None
    assert len(wx.emulator.texts_to(FOLLOWER)) == 1  # no second push


async def test_a_push_sent_by_another_process_is_unsubscribed_by_typed_number(
    pushing: ConsultationService,
    make_wx: MakeWx,
    clock: ManualClock,
    wechat_time: WechatClock,
) -> None:
    wx = make_wx()
    campaigns = _campaigns(wx)
    await _follow(wx)
    await _follow(wx, OTHER)
    assert wx.channel.client is not None
    # `lawbot campaign send`: its own process, its own memory of what the numbers mean
    elsewhere = wechat_sender(wx.channel.client, choices=Choices())
    occ = _due(campaigns, clock, "constitution_day.day")
    assert await campaigns.execute(occ, {"wechat": elsewhere}) == {"sent": 2}
    clock.advance(minutes=30)
    assert await wx.say(FOLLOWER, "2") == texts.CAMPAIGN_UNSUBSCRIBED
    assert not _villager(wx).subscribed
    # a villager who asked something after the push: their number answers that, not the push
    await wx.say(OTHER, "宅基地可以继承吗")
    asked = len(wx.consultations())
    wx.channel.choices.remember(OTHER, Offer())  # the next message reaches another worker
    await wx.say(OTHER, "2")
    assert _villager(wx, OTHER).subscribed
    assert len(wx.consultations()) == asked + 1
    assert _clicks(wx) == ["unsubscribe"]


async def test_a_typed_number_long_after_a_push_is_not_taken_for_its_button(
    pushing: ConsultationService,
    make_wx: MakeWx,
    clock: ManualClock,
    wechat_time: WechatClock,
) -> None:
    wx = make_wx()
    campaigns = _campaigns(wx)
    await _follow(wx)
    assert wx.channel.client is not None
    elsewhere = wechat_sender(wx.channel.client, choices=Choices())
    occ = _due(campaigns, clock, "constitution_day.day")
    await campaigns.execute(occ, {"wechat": elsewhere})
    clock.advance(hours=3)
    await wx.say(FOLLOWER, "2")
    assert _villager(wx).subscribed
    assert _clicks(wx) == []


# --- `lawbot serve`'s scheduler -------------------------------------------------------------


async def test_the_serve_scheduler_sends_a_due_push_through_every_channel_sender(
    pushing: ConsultationService,
    make_wx: MakeWx,
    clock: ManualClock,
    bot: Bot,
    telegram: Emulator,
    wechat_time: WechatClock,
) -> None:
    wx = make_wx()
    campaigns = _campaigns(wx)
    await _follow(wx)
    (chat,) = add_villagers(pushing.db, 1, villages=("waihong",))
    occ = _due(campaigns, clock, "constitution_day.day")
    notices: list[Notice] = []

    async def notify(sent: tuple[Notice, ...]) -> None:
        notices.extend(sent)

    scheduler = Scheduler(wx.channel.services, notify, lead=False, senders=_senders(wx, bot))
    try:
        started = await scheduler.plan_pushes()
        assert occ.job_id in started
        await scheduler.push_tasks()[occ.job_id]
        again = await scheduler.plan_pushes()  # a re-plan does not send the same push twice
        assert again == []  # nor start a second task for a push already waiting
    finally:
        await scheduler.cancel_pushes()
    assert len(wx.emulator.texts_to(FOLLOWER)) == 1
    assert len(telegram.texts_to(chat)) == 1
    assert campaigns.reports()[0].counts == {"sent": 2}
    assert scheduler.push_tasks() == {}


async def test_without_senders_the_scheduler_plans_no_pushes(
    pushing: ConsultationService,
    make_wx: MakeWx,
    clock: ManualClock,
) -> None:
    wx = make_wx()
    campaigns = _campaigns(wx)
    _due(campaigns, clock, "constitution_day.day")

    async def notify(_sent: tuple[Notice, ...]) -> None:
        return None

    scheduler = Scheduler(wx.channel.services, notify, lead=False)
    assert await scheduler.plan_pushes() == []
    assert campaigns.reports() == []


# --- event dedupe keys --------------------------------------------------------------------------


def _raw(event: str, key: str, create_time: int = 1_800_000_000) -> dict[str, str]:
    return {
        "ToUserName": "gh_0123456789ab",
        "FromUserName": FOLLOWER,
        "CreateTime": str(create_time),
        "MsgType": "event",
        "Event": event,
        "EventKey": key,
    }


def test_event_keys_tell_apart_clicks_in_the_same_second_and_match_their_retries() -> None:
    learn, consult = _raw("CLICK", menu.LEARN), _raw("CLICK", menu.CONSULT)
    first, second = inbound(None, learn), inbound(None, consult)
    retry = inbound(None, dict(learn))
    assert first is not None
    assert second is not None
    assert retry is not None
    assert first.key != second.key
    assert retry.key == first.key
    later = inbound(None, _raw("CLICK", menu.LEARN, 1_800_000_001))
    assert later is not None
    assert later.key != first.key
    for item in (first, second, later):
        assert len(item.key) <= 64  # the ledger's update_key column (PostgreSQL enforces it)
    long_id = _raw("unsubscribe", "") | {"FromUserName": "o" * 60}
    long_key = inbound(None, long_id)
    assert long_key is not None
    assert len(long_key.key) <= 64
    scan = inbound(None, _raw("SCAN", "waihong"))
    assert scan is not None
    assert scan.key != first.key


async def test_two_menu_clicks_in_one_second_are_both_answered_and_a_retry_once(
    wx: Wx, clock: ManualClock
) -> None:
    await _follow(wx)
    second = 1_800_000_500
    learn = await wx.post(event_xml(FOLLOWER, "CLICK", menu.LEARN, create_time=second))
    consult = await wx.post(event_xml(FOLLOWER, "CLICK", menu.CONSULT, create_time=second))
    assert texts.TOPICS_INTRO in (content(learn) or "")
    assert (content(consult) or "").startswith(texts.HELP[:12])
    clock.advance(minutes=1)
    advisor = event_xml(FOLLOWER, "CLICK", menu.ADVISOR, create_time=second)
    first = await wx.post(advisor)
    retry = await wx.post(advisor)  # WeChat's retry of the same click
    assert content(retry) == content(first)
    with wx.service.db.session() as session:
        asked = session.exec(select(Consultation)).all()
    assert len(asked) == 1
