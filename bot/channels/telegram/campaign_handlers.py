"""Telegram side of publicity pushes: the sender adapter, JobQueue jobs, staff commands, buttons.

Staff commands (/campaigns, /preview, /send_now, /cancel, /broadcast) and the push buttons
(👍有用 `cf:<delivery>`, 退订 `cu:<delivery>`, broadcast confirmation `bc:...`) sit in group -1
and stop further processing, so the villager handlers never see them. Jobs have deterministic
ids (`campaign:<push>:<date>`) and are derived from config + delivery log at every start-up
(and again daily), replacing any job of the same id: nothing is scheduled twice.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.exc import OperationalError
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot import texts
from bot.channels.telegram.context import get_services, services_of
from bot.channels.telegram.guards import Handler, staff_only
from bot.channels.telegram.keyboards import markup
from bot.services.campaign_schedule import Occurrence
from bot.services.campaigns import (
    Blocked,
    Buttons,
    CampaignService,
    ChatGone,
    Rejected,
    RetryLater,
    SendFunc,
    Transient,
)
from bot.services.replies import Reply

__all__ = [
    "CAMPAIGN_COMMANDS",
    "register_campaign_handlers",
    "schedule_campaign_jobs",
    "telegram_sender",
]

logger = logging.getLogger(__name__)
PLAN_RETRY = 30  # seconds before a plan that met a locked database is tried again

DRAFTS_KEY = "campaign_broadcast_drafts"
GROUP = -1
TELEGRAM_LIMIT = 4096
CAMPAIGN_COMMANDS = {
    "campaigns": "接下来的普法推送",
    "preview": "预览推送（只发给自己）",
    "send_now": "立即发送推送",
    "cancel": "取消一次推送",
    "broadcast": "发送临时通知",
}


# --- sender adapter ---------------------------------------------------------------------------


def _seconds(value: object) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)  # type: ignore[arg-type]


def telegram_sender(bot: Bot) -> SendFunc:
    """Send through a PTB bot, translating Telegram errors into the campaign `SendError`s."""

    async def send(chat_id: str, text: str, buttons: Buttons) -> None:
        target: int | str = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
        try:
            await bot.send_message(
                chat_id=target,
                text=text[:TELEGRAM_LIMIT],
                reply_markup=markup(Reply(text, buttons)),
            )
        except RetryAfter as exc:
            raise RetryLater(_seconds(exc.retry_after)) from exc
        except Forbidden as exc:
            if "deactivated" in exc.message.lower():
                raise ChatGone(exc.message) from exc
            raise Blocked(exc.message) from exc
        except BadRequest as exc:  # a NetworkError subclass: test it first
            lowered = exc.message.lower()
            if "chat not found" in lowered or "user not found" in lowered:
                raise ChatGone(exc.message) from exc
            raise Rejected(exc.message) from exc
        except NetworkError as exc:  # timeouts, 5xx, connection errors
            raise Transient(exc.message) from exc
        except TelegramError as exc:
            raise Rejected(exc.message) from exc

    return send


# --- jobs -------------------------------------------------------------------------------------


def _service(context: ContextTypes.DEFAULT_TYPE) -> CampaignService:
    return get_services(context).campaigns


async def _push_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    assert context.job is not None
    occ: Occurrence = context.job.data  # type: ignore[assignment]
    service = _service(context)
    counts = await service.execute(occ, telegram_sender(context.bot))
    logger.info("push %s finished: %s", occ.job_id, counts)


async def _resume_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    assert context.job is not None
    run_id: int = context.job.data  # type: ignore[assignment]
    counts = await _service(context).deliver(run_id, telegram_sender(context.bot))
    logger.info("resumed run %d finished: %s", run_id, counts)


async def _plan_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    try:
        await schedule_campaign_jobs(context.application, _service(context))
    except OperationalError as exc:
        # A locked or unreachable database must not lose the day's plan: try again shortly.
        logger.warning(
            "campaign plan: database unavailable (%s); retrying in %ss", exc, PLAN_RETRY
        )
        if context.job_queue is not None:
            context.job_queue.run_once(_plan_job, when=PLAN_RETRY, name="campaign:plan-retry")


def _job_kwargs(job_id: str) -> dict[str, Any]:
    # misfire_grace_time=None: a late job still runs; CampaignService.execute applies the grace
    return {"id": job_id, "replace_existing": True, "misfire_grace_time": None}


async def schedule_campaign_jobs(
    application: Application,  # type: ignore[type-arg]
    service: CampaignService,
    now: datetime | None = None,
) -> list[str]:
    """Derive the push jobs from config + delivery log and (re)place them; return their ids."""
    job_queue = application.job_queue
    assert job_queue is not None, "install python-telegram-bot[job-queue]"
    plan = await asyncio.to_thread(service.plan, now)
    ids = []
    for occ, when in plan.scheduled:
        # A delay from the service clock, not an absolute time: APScheduler runs on the wall
        # clock, and a job placed at an absolute instant would fire early under any other clock.
        delay = max(when - plan.now, timedelta(0))
        job_queue.run_once(
            _push_job, when=delay, data=occ, name=occ.job_id, job_kwargs=_job_kwargs(occ.job_id)
        )
        ids.append(occ.job_id)
    for run_id in plan.resume:
        job_id = f"campaign:resume:{run_id}"
        job_queue.run_once(
            _resume_job, when=0, data=run_id, name=job_id, job_kwargs=_job_kwargs(job_id)
        )
        ids.append(job_id)
    logger.info(
        "campaign jobs: %d scheduled, %d missed, %d resumed",
        len(plan.scheduled),
        len(plan.missed),
        len(plan.resume),
    )
    return ids


def _remove_job(application: Application, job_id: str) -> None:  # type: ignore[type-arg]
    if application.job_queue is None:
        return
    for job in application.job_queue.get_jobs_by_name(job_id):
        job.schedule_removal()


# --- staff commands ---------------------------------------------------------------------------


def _staff_only(name: str, body: Handler) -> Handler:
    return staff_only(
        name,
        body,
        config_of=lambda context: _service(context).config,
        refusal=texts.CAMPAIGN_STAFF_ONLY,
        private_only=texts.CAMPAIGN_PRIVATE_ONLY,
        prefix="campaign",
    )


def _when(service: CampaignService, moment: datetime) -> str:
    return moment.astimezone(service.config.town.tz).strftime("%Y-%m-%d %H:%M")


def _audience(service: CampaignService, villages: tuple[str, ...] | None) -> str:
    if villages is None:
        return texts.CAMPAIGN_AUDIENCE_ALL
    names = []
    for code in villages:
        village = service.config.village(code)
        names.append(village.name if village else code)
    return "、".join(names)


async def _campaigns(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    service = _service(context)

    def build() -> str:
        upcoming = service.upcoming(limit=12)
        if not upcoming:
            return texts.CAMPAIGN_NO_CAMPAIGNS
        lines = [texts.CAMPAIGN_UPCOMING_HEADER]
        for occ in upcoming:
            line = texts.CAMPAIGN_UPCOMING_LINE.format(
                when=_when(service, occ.at),
                key=occ.push_key,
                title=service.title(occ.campaign),
                audience=_audience(service, occ.villages),
                size=service.audience_size(occ.villages),
            )
            lines.append(
                line if service.is_open(occ) else line + texts.CAMPAIGN_UPCOMING_CANCELLED
            )
        return "\n".join(lines)

    await update.message.reply_text(await asyncio.to_thread(build))


async def _occurrence(
    update: Update, context: ContextTypes.DEFAULT_TYPE, command: str
) -> Occurrence | None:
    assert update.message is not None
    service = _service(context)
    key = " ".join(context.args or []).strip()
    if not key:
        await update.message.reply_text(texts.CAMPAIGN_PUSH_USAGE.format(command=command))
        return None
    occ = await asyncio.to_thread(service.next_occurrence, key)
    if occ is None:
        await update.message.reply_text(texts.CAMPAIGN_UNKNOWN_PUSH.format(key=key[:40]))
    return occ


async def _preview(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    occ = await _occurrence(update, context, "preview")
    if occ is None:
        return
    service = _service(context)
    size = await asyncio.to_thread(service.audience_size, occ.villages)
    header = texts.CAMPAIGN_PREVIEW_HEADER.format(
        key=occ.push_key,
        when=_when(service, occ.at),
        audience=_audience(service, occ.villages),
        size=size,
    )
    await update.message.reply_text((header + service.render(occ))[:TELEGRAM_LIMIT])


def _report_when_done(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    key: str,
    work: Coroutine[Any, Any, dict[str, int] | None],
) -> None:
    async def run() -> None:
        counts = await work
        if counts is None:
            return
        await context.bot.send_message(
            chat_id=chat_id,
            text=texts.CAMPAIGN_SEND_DONE.format(
                key=key,
                sent=counts.get("sent", 0),
                failed=counts.get("failed", 0),
                blocked=counts.get("blocked", 0) + counts.get("deactivated", 0),
                skipped=counts.get("skipped", 0),
            ),
        )

    context.application.create_task(run(), name=f"campaign:{key}")


async def _send_now(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    assert update.effective_user is not None
    occ = await _occurrence(update, context, "send_now")
    if occ is None:
        return
    service = _service(context)
    if not await asyncio.to_thread(service.is_open, occ):
        await update.message.reply_text(
            texts.CAMPAIGN_ALREADY_SENT.format(key=occ.push_key, day=occ.scheduled_for)
        )
        return
    _remove_job(context.application, occ.job_id)
    size = await asyncio.to_thread(service.audience_size, occ.villages)
    await update.message.reply_text(
        texts.CAMPAIGN_SEND_STARTED.format(key=occ.push_key, size=size)
    )
    work = service.execute(
        occ,
        telegram_sender(context.bot),
        actor=f"staff:{update.effective_user.id}",
        check_grace=False,
    )
    _report_when_done(context, update.message.chat_id, occ.push_key, work)


async def _cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    assert update.effective_user is not None
    occ = await _occurrence(update, context, "cancel")
    if occ is None:
        return
    service = _service(context)
    actor = f"staff:{update.effective_user.id}"
    if await asyncio.to_thread(service.cancel, occ, actor=actor):
        _remove_job(context.application, occ.job_id)
        text = texts.CAMPAIGN_CANCELLED.format(key=occ.push_key, when=_when(service, occ.at))
    else:
        text = texts.CAMPAIGN_CANCEL_TOO_LATE.format(key=occ.push_key, day=occ.scheduled_for)
    await update.message.reply_text(text)


async def _broadcast(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    assert update.effective_user is not None
    service = _service(context)
    text = (update.message.text or "").partition(" ")[2].strip()
    if not text:
        await update.message.reply_text(texts.CAMPAIGN_BROADCAST_USAGE)
        return
    token = secrets.token_hex(4)
    drafts: dict[str, tuple[str, int]] = context.application.bot_data.setdefault(DRAFTS_KEY, {})
    drafts[token] = (text, update.effective_user.id)
    size = await asyncio.to_thread(service.audience_size, None)
    rows = [
        [
            InlineKeyboardButton(
                texts.CAMPAIGN_BROADCAST_ALL.format(size=size), callback_data=f"bc:a:{token}"
            )
        ]
    ]
    villages = [
        InlineKeyboardButton(v.name, callback_data=f"bc:v:{v.code}:{token}")
        for v in service.config.villages
    ]
    rows += [villages[i : i + 3] for i in range(0, len(villages), 3)]
    rows.append(
        [InlineKeyboardButton(texts.CAMPAIGN_BROADCAST_CANCEL, callback_data=f"bc:x:{token}")]
    )
    await update.message.reply_text(
        texts.CAMPAIGN_BROADCAST_CONFIRM.format(text=text[:3000]),
        reply_markup=InlineKeyboardMarkup(rows),
    )


async def _broadcast_choice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:
        raise ApplicationHandlerStop
    service = _service(context)
    if not service.config.is_staff(user.id):
        logger.warning("refused broadcast confirmation to non-staff user %s", user.id)
        await query.answer(texts.CAMPAIGN_STAFF_ONLY, show_alert=True)
        raise ApplicationHandlerStop
    await query.answer()
    parts = (query.data or "").split(":")
    drafts: dict[str, tuple[str, int]] = context.application.bot_data.setdefault(DRAFTS_KEY, {})
    draft = drafts.get(parts[-1])
    chat_id = query.message.chat.id if query.message is not None else user.id
    if draft is None or draft[1] != user.id:
        await context.bot.send_message(chat_id=chat_id, text=texts.CAMPAIGN_BROADCAST_EXPIRED)
        raise ApplicationHandlerStop
    del drafts[parts[-1]]
    if parts[1] == "x":
        await context.bot.send_message(chat_id=chat_id, text=texts.CAMPAIGN_BROADCAST_CANCELLED)
        raise ApplicationHandlerStop
    villages = (parts[2],) if parts[1] == "v" and len(parts) == 4 else None
    run_id = await asyncio.to_thread(
        service.start_broadcast, draft[0], villages, actor=f"staff:{user.id}"
    )
    size = await asyncio.to_thread(service.audience_size, villages)
    await context.bot.send_message(
        chat_id=chat_id,
        text=texts.CAMPAIGN_BROADCAST_STARTED.format(
            audience=_audience(service, villages), size=size
        ),
    )
    work = service.deliver(run_id, telegram_sender(context.bot))
    _report_when_done(context, chat_id, f"broadcast#{run_id}", work)
    raise ApplicationHandlerStop


# --- villager buttons -------------------------------------------------------------------------


async def _push_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:
        raise ApplicationHandlerStop
    service = _service(context)
    data = query.data or ""
    answer = await asyncio.to_thread(service.click, "telegram", str(user.id), data)
    await query.answer(answer)
    if answer == texts.CAMPAIGN_UNSUBSCRIBED and query.message is not None:
        await context.bot.send_message(chat_id=query.message.chat.id, text=answer)
    raise ApplicationHandlerStop


# --- registration -----------------------------------------------------------------------------


def register_campaign_handlers(
    application: Application,  # type: ignore[type-arg]
    *,
    schedule: bool = True,
) -> None:
    """Add the staff commands and push buttons (group -1); plan the jobs once the app runs."""
    for name, body in (
        ("campaigns", _campaigns),
        ("preview", _preview),
        ("send_now", _send_now),
        ("cancel", _cancel),
        ("broadcast", _broadcast),
    ):
        application.add_handler(CommandHandler(name, _staff_only(name, body)), group=GROUP)
    application.add_handler(
        CallbackQueryHandler(_push_button, pattern=r"^c[fu]:\d+$"), group=GROUP
    )
    application.add_handler(CallbackQueryHandler(_broadcast_choice, pattern=r"^bc:"), group=GROUP)
    campaign_service = services_of(application).campaigns
    for problem in campaign_service.problems():
        logger.warning("campaign config: %s", problem)
    if not schedule or application.job_queue is None:
        return
    tz = campaign_service.config.town.tz
    application.job_queue.run_once(
        _plan_job, when=0, name="campaign:plan", job_kwargs=_job_kwargs("campaign:plan")
    )
    application.job_queue.run_daily(
        _plan_job,
        time=time(0, 5, tzinfo=tz),
        name="campaign:replan",
        job_kwargs=_job_kwargs("campaign:replan"),
    )
