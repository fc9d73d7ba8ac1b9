"""Staff commands: /stats, /stats <村>, /gaps, /ledger — for town staff only.

The handlers sit in group -1 and stop further processing (ApplicationHandlerStop), so the
villager "unknown command" handler never answers them, whatever order they were added in.
Database work runs in a worker thread. Non-staff get a polite refusal and the attempt is logged.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from datetime import datetime
from pathlib import Path

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot import texts
from bot.channels.telegram.guards import Handler, staff_only
from bot.channels.telegram.handlers import get_service
from bot.services import report as rp
from bot.services.consultation import ConsultationService

__all__ = ["STAFF_COMMANDS", "register_staff_handlers"]

logger = logging.getLogger(__name__)

STAFF_COMMANDS = {
    "stats": "本月与上月统计（可加村名）",
    "gaps": "机器人没答上的问题",
    "ledger": "本月台账（Excel）",
}
GROUP = -1


def _staff_only(name: str, body: Handler) -> Handler:
    return staff_only(
        name,
        body,
        config_of=lambda context: get_service(context).config,
        refusal=texts.STATS_STAFF_ONLY,
        private_only=texts.STATS_PRIVATE_ONLY,
        prefix="staff",
    )


def _months(service: ConsultationService, now: datetime) -> tuple[rp.Report, rp.Report]:
    tz = service.config.town.tz
    names = rp.topic_names_of(service.kb.topics)
    reports = []
    for back in (0, 1):
        start, end = rp.month_period(now, tz, back=back)
        reports.append(
            rp.build_report(service.db, service.config, start, end, topic_names=names, now=now)
        )
    return reports[0], reports[1]


def _village_code(service: ConsultationService, arg: str) -> str | None:
    wanted = arg.strip().lower()
    for village in service.config.villages:
        if wanted in (village.code, village.name.lower(), village.name.removesuffix("村")):
            return village.code
    return None


async def _stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    service = get_service(context)
    arg = " ".join(context.args or [])
    code = None
    if arg:
        code = _village_code(service, arg)
        if code is None:
            villages = "、".join(v.name for v in service.config.villages)
            await update.message.reply_text(
                texts.STATS_UNKNOWN_VILLAGE.format(name=arg[:20], villages=villages)
            )
            return
    this, last = await asyncio.to_thread(_months, service, service.clock())
    text = (
        rp.stats_message(this, last)
        if code is None
        else rp.village_stats_message(this, last, code)
    )
    await update.message.reply_text(text)


async def _gaps(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    service = get_service(context)

    def build() -> str:
        start, end = rp.month_period(service.clock(), service.config.town.tz)
        return rp.gaps_message(
            rp.build_report(service.db, service.config, start, end, now=service.clock())
        )

    await update.message.reply_text(await asyncio.to_thread(build))


async def _ledger(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    service = get_service(context)
    now = service.clock()
    start, end = rp.month_period(now, service.config.town.tz)
    await update.message.reply_text(texts.LEDGER_BUSY)
    with tempfile.TemporaryDirectory(prefix="lawbot-ledger-") as tmp:
        local = start.astimezone(service.config.town.tz)
        path = Path(tmp) / f"台账-{local.year}-{local.month:02d}.xlsx"

        def build() -> rp.Report:
            names = rp.topic_names_of(service.kb.topics)
            built = rp.build_report(
                service.db, service.config, start, end, topic_names=names, now=now
            )
            rp.write_xlsx(built, service.db, path)
            return built

        built = await asyncio.to_thread(build)
        with path.open("rb") as handle:
            await update.message.reply_document(
                document=handle,
                filename=path.name,
                caption=texts.LEDGER_CAPTION.format(town=built.town, period=built.period_label),
            )


def register_staff_handlers(application: Application) -> None:  # type: ignore[type-arg]
    """Add /stats, /gaps and /ledger (group -1, ahead of the villager handlers)."""
    for name, body in (("stats", _stats), ("gaps", _gaps), ("ledger", _ledger)):
        application.add_handler(CommandHandler(name, _staff_only(name, body)), group=GROUP)
