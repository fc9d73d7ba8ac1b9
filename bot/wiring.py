"""The composition root: the only place that builds the knowledge base, matcher, database and
services from the config. Channels and commands receive a `Services`; nothing else constructs one."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from bot.config import Config
from bot.services.accounts import AccountService
from bot.services.campaigns import CampaignService
from bot.services.consultation import ConsultationService
from bot.services.container import Services
from bot.services.drafts import PHRASINGS_FILE
from knowledge.loader import load_kb, read_kb
from knowledge.matcher import Matcher, MatchSettings
from knowledge.merge import add_phrasings, merge_kbs
from knowledge.models import KnowledgeBase
from knowledge.templates import fill_fields
from storage.db import Database

__all__ = [
    "Services",
    "build_campaigns",
    "build_service",
    "build_services",
    "load_knowledge",
    "match_settings",
    "open_database",
    "services_for",
]

logger = logging.getLogger(__name__)


def match_settings(config: Config, *, semantic: bool | None = None) -> MatchSettings:
    """Translate the `[matching]` table into the matcher's settings."""
    table = config.matching
    cache = config.resolve(table.cache_dir)
    return MatchSettings(
        tau_high=table.tau_high,
        tau_low=table.tau_low,
        delta=table.delta,
        tau_confirm=table.tau_confirm,
        semantic=table.semantic if semantic is None else semantic,
        cache_dir=cache,
    )


def load_knowledge(config: Config, kb_dir: Path | None = None) -> KnowledgeBase:
    """Load the configured knowledge base (or `kb_dir`, or the shipped one) plus approved drafts."""
    kb = load_kb(kb_dir or config.resolve(config.knowledge.kb_dir))
    drafts = config.resolve(config.knowledge.drafts_dir)
    if drafts is not None and (drafts / "faq").is_dir():
        extra, problems = read_kb(drafts)
        errors = [p for p in problems if p.error]
        for problem in errors:
            logger.error("approved drafts: %s", problem)
        kb = kb if errors else merge_kbs(kb, extra)
    if drafts is not None and (drafts / PHRASINGS_FILE).is_file():
        kb = add_phrasings(kb, _read_phrasings(drafts / PHRASINGS_FILE))
    return fill_fields(kb, config.kb_fields())


def _read_phrasings(path: Path) -> dict[str, dict[str, list[str]]]:
    """Read approved phrasings; a damaged file is logged and ignored (the KB stays as shipped)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        logger.error("approved phrasings %s: %s", path, exc)
        return {}
    if not isinstance(data, dict):
        logger.error("approved phrasings %s: not a mapping", path)
        return {}
    return {
        str(entry_id): {
            str(kind): [str(t) for t in texts if isinstance(t, str)]
            for kind, texts in (lists or {}).items()
            if kind in ("variant", "not_for") and isinstance(texts, list)
        }
        for entry_id, lists in data.items()
        if isinstance(lists, dict)
    }


def open_database(config: Config, url: str | None = None, *, migrate: bool = True) -> Database:
    """Open the configured database and bring its schema up to date."""
    db = Database(url or config.database.url, pool_size=config.database.pool_size)
    if migrate:
        db.upgrade()
    return db


def build_services(
    config: Config, *, db: Database | None = None, semantic: bool | None = None
) -> Services:
    """Build every service with what it needs, initialised up front."""
    kb = load_knowledge(config)
    matcher = Matcher(kb, match_settings(config, semantic=semantic))
    database = db or open_database(config)
    logger.info(
        "services ready: %d entries, database %s, semantic=%s",
        len(kb.entries),
        database.backend,
        matcher.settings.semantic,
    )
    consultation = ConsultationService.create(
        config, kb, matcher, database, kb_source=load_knowledge
    )
    return services_for(consultation)


def services_for(
    consultation: ConsultationService, *, campaigns: CampaignService | None = None
) -> Services:
    """Group a consultation service with the campaign service over the same KB, database, clock."""
    if campaigns is None:
        campaigns = CampaignService(
            config=consultation.config,
            kb=consultation.kb,
            db=consultation.db,
            clock=lambda: consultation.clock(),
            kb_source=lambda: consultation.kb,
        )
    accounts = AccountService(
        config=consultation.config, db=consultation.db, clock=lambda: consultation.clock()
    )
    return Services(consultation=consultation, campaigns=campaigns, accounts=accounts)


def build_campaigns(config: Config, *, db: Database | None = None) -> CampaignService:
    """Build the campaign service alone (the campaign commands need no matcher)."""
    return CampaignService(
        config=config, kb=load_knowledge(config), db=db or open_database(config)
    )


def build_service(
    config: Config, *, db: Database | None = None, semantic: bool | None = None
) -> ConsultationService:
    """Build the services and return the consultation one (for commands that need only it)."""
    return build_services(config, db=db, semantic=semantic).consultation
