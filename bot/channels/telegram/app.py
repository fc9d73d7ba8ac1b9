"""Build the PTB Application: handlers, defaults, rate limiter, command menu, error handler."""

from __future__ import annotations

from telegram import BotCommand
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)

from bot import texts
from bot.channels.leader import gated, leader_for
from bot.channels.telegram import handlers, jobs
from bot.channels.telegram.campaign_handlers import register_campaign_handlers
from bot.channels.telegram.errors import error_handler
from bot.channels.telegram.ordering import PerChatUpdateProcessor
from bot.channels.telegram.staff import register_staff_handlers
from bot.services.container import Services

__all__ = ["SLA_SWEEP_SECONDS", "VILLAGER_COMMANDS", "build_application"]

SLA_SWEEP_SECONDS = 60
KB_RELOAD_SECONDS = 60
RELEASE_SECONDS = 5  # how often messages held by the pace limit are looked at

VILLAGER_COMMANDS = texts.COMMAND_MENU


async def _post_init(application: Application) -> None:  # type: ignore[type-arg]
    await application.bot.set_my_commands([BotCommand(c, d) for c, d in VILLAGER_COMMANDS.items()])


def build_application(services: Services, token: str, *, rate_limit: bool = True) -> Application:  # type: ignore[type-arg]
    """Wire the services into a PTB Application pointed at the configured Bot API server."""
    config = services.config
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(config.telegram.base_url)
        .base_file_url(config.telegram.base_file_url)
        .defaults(Defaults(tzinfo=config.town.tz))
        .post_init(_post_init)
        .concurrent_updates(PerChatUpdateProcessor(8))
    )
    if rate_limit:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))  # type: ignore[arg-type]
    application = builder.build()
    application.bot_data[handlers.SERVICES_KEY] = services
    register_staff_handlers(application)
    register_campaign_handlers(application, schedule=config.scheduler.enabled)
    for name in VILLAGER_COMMANDS:
        application.add_handler(CommandHandler(name, handlers.command(name)))  # type: ignore[arg-type]
    for name in handlers.ADVISOR_COMMANDS:
        application.add_handler(CommandHandler(name, handlers.advisor_command(name)))  # type: ignore[arg-type]
    for name in handlers.DRAFT_COMMANDS:
        application.add_handler(CommandHandler(name, handlers.staff_command(name)))  # type: ignore[arg-type]
    application.add_handler(CallbackQueryHandler(handlers.answer_button))
    application.add_handler(
        MessageHandler(filters.CONTACT & filters.ChatType.PRIVATE, handlers.shared_contact)
    )
    text = filters.TEXT & ~filters.COMMAND
    application.add_handler(MessageHandler(text & filters.UpdateType.MESSAGES, handlers.ask))
    application.add_handler(
        MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, handlers.unknown_command)
    )
    application.add_handler(
        MessageHandler(~filters.TEXT & filters.UpdateType.MESSAGE, handlers.other_input)
    )
    application.add_error_handler(error_handler)
    if application.job_queue is not None and services.config.scheduler.enabled:
        leader = leader_for(services.consultation.db)  # each run polls: one process leads

        async def _release_leader(_app: Application) -> None:  # type: ignore[type-arg]
            await leader.close()  # the next process takes over at once

        application.post_shutdown = _release_leader
        application.job_queue.run_repeating(
            gated(leader, jobs.sla_sweep), interval=SLA_SWEEP_SECONDS, first=1, name="sla-sweep"
        )
        application.job_queue.run_repeating(
            jobs.release_held,  # not leader-gated: the lead can take a poll to settle (note)
            interval=RELEASE_SECONDS,
            first=RELEASE_SECONDS,
            name="release-held",
        )
    if application.job_queue is not None:
        application.job_queue.run_repeating(
            jobs.reload_knowledge,
            interval=KB_RELOAD_SECONDS,
            first=KB_RELOAD_SECONDS,
            name="kb-reload",
        )
    return application
