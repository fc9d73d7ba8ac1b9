"""Composition root: build the knowledge base, matcher, database and service from the config."""

from __future__ import annotations

import logging
from pathlib import Path

from bot.config import Config
from bot.service import ConsultationService
from knowledge.loader import load_kb, read_kb
from knowledge.matcher import Matcher, MatchSettings
from knowledge.merge import merge_kbs
from knowledge.models import KnowledgeBase
from knowledge.templates import fill_fields
from storage.db import Database

__all__ = ["build_service", "load_knowledge", "match_settings", "open_database"]

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
    return fill_fields(kb, config.town.fields())


def open_database(config: Config, url: str | None = None, *, migrate: bool = True) -> Database:
    """Open the configured database and bring its schema up to date."""
    db = Database(url or config.database.url, pool_size=config.database.pool_size)
    if migrate:
        db.upgrade()
    return db


def build_service(
    config: Config, *, db: Database | None = None, semantic: bool | None = None
) -> ConsultationService:
    """Build the consultation service with everything it needs, initialised up front."""
    kb = load_knowledge(config)
    matcher = Matcher(kb, match_settings(config, semantic=semantic))
    database = db or open_database(config)
    logger.info(
        "service ready: %d entries, database %s, semantic=%s",
        len(kb.entries),
        database.backend,
        matcher.settings.semantic,
    )
    return ConsultationService.create(config, kb, matcher, database)
