"""The one entry of `bot_data`: the services the application was built with."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, ContextTypes

from bot.services.consultation import ConsultationService
from bot.services.container import Services

__all__ = ["SERVICES_KEY", "get_service", "get_services", "services_of"]

SERVICES_KEY = "services"


def services_of(application: Application[Any, Any, Any, Any, Any, Any]) -> Services:
    """Return the services stored in an application's bot_data."""
    services: Services = application.bot_data[SERVICES_KEY]
    return services


def get_services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """Return the services of the application handling this update or job."""
    return services_of(context.application)


def get_service(context: ContextTypes.DEFAULT_TYPE) -> ConsultationService:
    """Return the consultation service."""
    return get_services(context).consultation
