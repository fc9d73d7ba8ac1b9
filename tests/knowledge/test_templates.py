"""Place names are template fields filled from config, so another town can reuse the KB."""

from __future__ import annotations

import re
from pathlib import Path

from knowledge.loader import default_kb_dir, load_kb
from knowledge.templates import fill_fields, unknown_fields

PLACES = re.compile("弋阳|曹溪|江西|上饶")


def test_the_shipped_kb_names_no_place() -> None:
    faq = Path(default_kb_dir()) / "faq"
    hits = [
        f"{path.name}:{n}"
        for path in sorted(faq.glob("*.yaml"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PLACES.search(line)
    ]
    assert hits == []


def test_fields_are_filled_with_another_towns_values() -> None:
    values = {"town": "葛溪乡", "county": "某某县", "city": "某某市", "province": "某某省"}
    kb = fill_fields(load_kb(), values)
    texts = [t for e in kb.entries for t in (e.answer, e.short, e.next_steps, *e.phrasings)]
    assert any("某某县人民法院" in t for t in texts)
    assert not any(re.search(r"\{(town|county|city|province)\}", t) for t in texts)
    assert kb.fingerprint != load_kb().fingerprint


def test_an_unknown_field_is_reported(tmp_path: Path) -> None:
    kb = load_kb()
    entry = kb.entries[0]
    import dataclasses

    broken = dataclasses.replace(entry, answer=entry.answer + "请打{hotline}。")
    topic = dataclasses.replace(kb.topics[0], entries=(broken, *kb.topics[0].entries[1:]))
    kb = dataclasses.replace(kb, topics=(topic, *kb.topics[1:]))
    assert unknown_fields(kb) == [(entry.id, "hotline")]
