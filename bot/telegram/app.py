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

from bot.campaigns import CampaignService
from bot.config import Config
from bot.service import ConsultationService
from bot.telegram import handlers, jobs
from bot.telegram.campaign_handlers import register_campaign_handlers
from bot.telegram.errors import error_handler
from bot.telegram.staff import register_staff_handlers

__all__ = ["SLA_SWEEP_SECONDS", "VILLAGER_COMMANDS", "build_application"]

SLA_SWEEP_SECONDS = 60
KB_RELOAD_SECONDS = 60

VILLAGER_COMMANDS = {
    "start": "开始 / 选择村",
    "help": "怎么用",
    "topics": "按主题看常见问题",
    "village": "更换所在村",
    "elder": "长辈模式（简短回答）",
    "subscribe": "订阅普法消息",
    "unsubscribe": "退订普法消息",
    "mydata": "查看我的记录",
    "forget": "删除我的记录",
}


async def _post_init(application: Application) -> None:  # type: ignore[type-arg]
    await application.bot.set_my_commands([BotCommand(c, d) for c, d in VILLAGER_COMMANDS.items()])


def build_application(
    config: Config, service: ConsultationService, token: str, *, rate_limit: bool = True
) -> Application:  # type: ignore[type-arg]
    """Wire the service into a PTB Application pointed at the configured Bot API server."""
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(config.telegram.base_url)
        .base_file_url(config.telegram.base_file_url)
        .defaults(Defaults(tzinfo=config.town.tz))
        .post_init(_post_init)
        .concurrent_updates(8)
    )
    if rate_limit:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))  # type: ignore[arg-type]
    application = builder.build()
    application.bot_data[handlers.SERVICE_KEY] = service
    register_staff_handlers(application)
    register_campaign_handlers(
        application,
        CampaignService(config=config, kb=service.kb, db=service.db, kb_source=lambda: service.kb),
    )
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
    if application.job_queue is not None:
        application.job_queue.run_repeating(
            jobs.sla_sweep, interval=SLA_SWEEP_SECONDS, first=1, name="sla-sweep"
        )
        application.job_queue.run_repeating(
            jobs.reload_knowledge,
            interval=KB_RELOAD_SECONDS,
            first=KB_RELOAD_SECONDS,
            name="kb-reload",
        )
    return application
