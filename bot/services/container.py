"""The services a channel works with, built once by `bot.wiring` and handed to every adapter."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Config
from bot.services.accounts import AccountService
from bot.services.campaigns import CampaignService
from bot.services.consultation import ConsultationService

__all__ = ["Services"]


@dataclass(frozen=True, slots=True)
class Services:
    """The use cases over one knowledge base, one database and one clock."""

    consultation: ConsultationService
    campaigns: CampaignService
    accounts: AccountService

    @property
    def config(self) -> Config:
        """The configuration the services were built from."""
        return self.consultation.config
