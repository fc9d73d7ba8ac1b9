"""The statute texts the KB cites ship with the package."""

from __future__ import annotations

from knowledge.laws import LawLibrary, default_laws_dir
from knowledge.models import KnowledgeBase


def test_every_citation_resolves_in_the_shipped_statutes(kb: KnowledgeBase) -> None:
    library = LawLibrary(default_laws_dir())
    citations = [c for e in kb.entries for c in e.basis] + [
        c for m in kb.campaigns for c in m.basis
    ]
    assert citations
    unresolved = [
        f"{c.law} 第{c.article}条" for c in citations if library.article(c.law, c.article) is None
    ]
    assert unresolved == []
