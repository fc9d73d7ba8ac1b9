"""Load a knowledge-base directory (FAQ YAML, lexicon, triage triggers, campaign texts).

`read_kb` never raises on bad content: it returns what it could load plus a list of problems, so
that `kb check` can report every problem at once. `load_kb` raises `KbError` on any error.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from knowledge.models import (
    CampaignMessage,
    Citation,
    Entry,
    KnowledgeBase,
    Lexicon,
    Topic,
    TriageCategory,
)
from knowledge.numerals import parse_article

__all__ = ["KbError", "Problem", "default_kb_dir", "load_kb", "read_kb", "resolve_kb_dirs"]

# libyaml's safe loader when available: several times faster on the ~1 MB of KB text at start-up
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_ENTRY_FIELDS = {
    "id", "question", "variants", "answer", "short", "basis", "next_steps", "keywords", "not_for",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or suspicious, when `error` is False) in a KB directory."""

    path: str
    entry_id: str
    reason: str
    error: bool = True

    def __str__(self) -> str:
        kind = "error" if self.error else "warning"
        where = f"{self.path}: {self.entry_id}" if self.entry_id else self.path
        return f"{kind}: {where}: {self.reason}"


class KbError(Exception):
    """The knowledge base has errors; `problems` lists them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = str(problems[0]) if problems else "unknown problem"
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more)


def default_kb_dir() -> Path:
    """Return the directory of the knowledge base shipped with the package."""
    return Path(str(files("knowledge")))


def resolve_kb_dirs(kb_dir: Path) -> tuple[Path, Path]:
    """Return (root, faq_dir): DIR may be a KB root holding faq/, or a folder of FAQ files."""
    faq = kb_dir / "faq"
    return (kb_dir, faq) if faq.is_dir() else (kb_dir, kb_dir)


def load_kb(kb_dir: Path | None = None) -> KnowledgeBase:
    """Load a KB directory, raising `KbError` if it has any error."""
    kb, problems = read_kb(kb_dir or default_kb_dir())
    errors = [p for p in problems if p.error]
    if errors:
        raise KbError(errors)
    return kb


def read_kb(kb_dir: Path) -> tuple[KnowledgeBase, list[Problem]]:
    """Load what can be loaded from a KB directory and list the problems found."""
    problems: list[Problem] = []
    if not kb_dir.is_dir():
        return KnowledgeBase(topics=()), [
            Problem(str(kb_dir), "", "目录不存在 (no such directory)")
        ]
    root, faq_dir = resolve_kb_dirs(kb_dir)
    digest = hashlib.sha256()
    topics: list[Topic] = []
    faq_files = sorted(faq_dir.glob("*.yaml")) + sorted(faq_dir.glob("*.yml"))
    if not faq_files:
        problems.append(Problem(str(faq_dir), "", "没有 FAQ 文件 (no *.yaml FAQ files)"))
    for path in faq_files:
        data = _read_yaml(path, problems, digest)
        if data is not None:
            topic = _topic(path, data, problems)
            if topic is not None:
                topics.append(topic)
    if root != faq_dir and (root / GUIDANCE_FILE).is_file():
        topics = _with_guidance(topics, root / GUIDANCE_FILE, problems, digest)
    lexicon = _lexicon(root / "lexicon", problems, digest) if root != faq_dir else Lexicon()
    triage = _triage(root / "triage.yaml", problems, digest) if root != faq_dir else ()
    campaigns = _campaigns(root / "campaigns", problems, digest) if root != faq_dir else ()
    kb = KnowledgeBase(
        topics=tuple(topics),
        lexicon=lexicon,
        triage=triage,
        campaigns=campaigns,
        fingerprint=digest.hexdigest()[:16],
    )
    return kb, problems


GUIDANCE_FILE = "guidance.yaml"
GUIDANCE_MAX = 160


def _with_guidance(
    topics: list[Topic], path: Path, problems: list[Problem], digest: Any
) -> list[Topic]:
    """Attach each topic's guidance text (`guidance.yaml`: topic key -> text)."""
    data = _read_yaml(path, problems, digest)
    if not isinstance(data, Mapping):
        problems.append(Problem(str(path), "", "文件顶层应为映射 (top level must be a mapping)"))
        return topics
    known = {t.key for t in topics}
    for key, text in data.items():
        if key not in known:
            problems.append(Problem(str(path), str(key), "没有这个主题 (unknown topic key)"))
        elif not isinstance(text, str) or not text.strip():
            problems.append(Problem(str(path), str(key), "指引应为非空文字 (must be text)"))
        elif len(text.strip()) > GUIDANCE_MAX:
            problems.append(Problem(str(path), str(key), f"指引超过 {GUIDANCE_MAX} 字"))
    return [
        dataclasses.replace(t, guidance=str(data.get(t.key) or "").strip())
        if isinstance(data.get(t.key), str)
        else t
        for t in topics
    ]


def _read_yaml(path: Path, problems: list[Problem], digest: Any) -> Any:
    try:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        return yaml.load(raw.decode("utf-8"), Loader=_SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(Problem(str(path), "", f"无法读取 YAML (cannot parse): {exc}"))
        return None


def _topic(path: Path, data: Any, problems: list[Problem]) -> Topic | None:
    where = str(path)
    if not isinstance(data, Mapping):
        problems.append(Problem(where, "", "文件顶层应为映射 (top level must be a mapping)"))
        return None
    name, key, raw_entries = data.get("topic"), data.get("key"), data.get("entries")
    bad = [k for k, v in (("topic", name), ("key", key)) if not isinstance(v, str) or not v]
    if bad or not isinstance(raw_entries, list):
        missing = ", ".join([*bad, *([] if isinstance(raw_entries, list) else ["entries"])])
        problems.append(Problem(where, "", f"缺少或错误的字段 (missing or invalid): {missing}"))
        return None
    extra = set(data) - {"topic", "key", "entries"}
    if extra:
        problems.append(Problem(where, "", f"未知字段 (unknown keys): {', '.join(sorted(extra))}"))
    entries = [
        e
        for i, raw in enumerate(raw_entries)
        if (e := _entry(where, i, raw, str(key), str(name), problems)) is not None
    ]
    return Topic(key=str(key), name=str(name), entries=tuple(entries))


def _entry(
    where: str, index: int, raw: Any, key: str, topic: str, problems: list[Problem]
) -> Entry | None:
    if not isinstance(raw, Mapping):
        problems.append(Problem(where, f"#{index + 1}", "条目应为映射 (entry must be a mapping)"))
        return None
    raw_id = raw.get("id")
    entry_id = raw_id if isinstance(raw_id, str) else f"#{index + 1}"

    def fail(reason: str) -> None:
        problems.append(Problem(where, entry_id, reason))

    extra = set(raw) - _ENTRY_FIELDS
    if extra:
        fail(f"未知字段 (unknown keys): {', '.join(sorted(map(str, extra)))}")
    texts = {f: raw.get(f) for f in ("id", "question", "answer", "next_steps")}
    missing = [f for f, v in texts.items() if not isinstance(v, str) or not v.strip()]
    variants = raw.get("variants")
    if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
        missing.append("variants")
    basis_raw = raw.get("basis")
    if not isinstance(basis_raw, list) or not basis_raw:
        missing.append("basis")
    if missing:
        fail(f"缺少或错误的字段 (missing or invalid): {', '.join(missing)}")
        return None
    short = raw.get("short") or ""
    if not isinstance(short, str):
        fail("short 应为文字 (short must be text)")
        short = ""
    keywords = raw.get("keywords") or []
    if not isinstance(keywords, list):
        fail("keywords 应为列表 (keywords must be a list)")
        keywords = []
    not_for = raw.get("not_for") or []
    if not isinstance(not_for, list) or not all(isinstance(t, str) for t in not_for):
        fail("not_for 应为文字列表 (not_for must be a list of texts)")
        not_for = []
    assert isinstance(variants, list)
    assert isinstance(basis_raw, list)
    return Entry(
        id=str(texts["id"]).strip(),
        topic_key=key,
        topic=topic,
        question=str(texts["question"]).strip(),
        variants=tuple(v.strip() for v in variants if v.strip()),
        answer=str(texts["answer"]).strip(),
        short=short.strip(),
        basis=tuple(_citations(basis_raw, fail)),
        next_steps=str(texts["next_steps"]).strip(),
        keywords=tuple(str(k) for k in keywords),
        not_for=tuple(t.strip() for t in not_for if t.strip()),
    )


def _citations(raw: Iterable[Any], fail: Any) -> Iterable[Citation]:
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("law"), str):
            fail(f"引用格式错误 (citation needs law and article): {item!r}")
            continue
        article = item.get("article")
        if isinstance(article, bool) or not isinstance(article, int | str):
            fail(f"条号格式错误 (bad article): {item.get('law')} {article!r}")
            continue
        try:
            label = parse_article(article)
        except ValueError:
            fail(f"条号格式错误 (bad article): {item['law']} {article!r}")
            continue
        yield Citation(law=item["law"].strip(), article=article, label=label)


def _lexicon(directory: Path, problems: list[Problem], digest: Any) -> Lexicon:
    synonyms: dict[str, str] = {}
    for path in sorted((directory / "synonyms").glob("*.yaml")):
        data = _read_yaml(path, problems, digest)
        if data is None:
            continue
        if not isinstance(data, Mapping):
            problems.append(Problem(str(path), "", "同义词文件应为映射 (must be a mapping)"))
            continue
        for colloquial, canonical in data.items():
            if not isinstance(colloquial, str) or not isinstance(canonical, str):
                problems.append(
                    Problem(str(path), str(colloquial), "同义词应为文字 (must be text)")
                )
            elif len(colloquial) < 2:
                problems.append(Problem(str(path), colloquial, "同义词至少两个字 (key too short)"))
            elif colloquial != canonical:
                synonyms.setdefault(colloquial, canonical)
    words: list[tuple[str, int, str]] = []
    for path in sorted((directory / "userdict").glob("*.txt")):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            problems.append(Problem(str(path), "", f"无法读取 (cannot read): {exc}"))
            continue
        digest.update(path.name.encode() + b"\0" + raw)
        for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 1000
            tag = (
                parts[2]
                if len(parts) > 2
                else (parts[1] if len(parts) == 2 and not parts[1].isdigit() else "n")
            )
            if len(parts) > 3:
                problems.append(
                    Problem(str(path), f"line {number}", "格式应为 词语 频率 词性", False)
                )
            words.append((parts[0], freq, tag))
    return Lexicon(synonyms=synonyms, words=tuple(words))


def _triage(path: Path, problems: list[Problem], digest: Any) -> tuple[TriageCategory, ...]:
    if not path.is_file():
        return ()
    data = _read_yaml(path, problems, digest)
    if not isinstance(data, Mapping) or not isinstance(data.get("categories"), list):
        problems.append(Problem(str(path), "", "应有 categories 列表 (needs a categories list)"))
        return ()
    categories: list[TriageCategory] = []
    for raw in data["categories"]:
        key = raw.get("key") if isinstance(raw, Mapping) else None
        triggers = raw.get("triggers") if isinstance(raw, Mapping) else None
        if not isinstance(key, str) or not isinstance(triggers, list) or not triggers:
            problems.append(
                Problem(str(path), str(key), "需要 key 和 triggers (needs key, triggers)")
            )
            continue
        assert isinstance(raw, Mapping)
        categories.append(
            TriageCategory(
                key=key,
                label=str(raw.get("label") or key),
                numbers=tuple(str(n) for n in raw.get("numbers") or ()),
                message=str(raw.get("message") or "").strip(),
                triggers=tuple(str(t) for t in triggers),
                exclude=tuple(str(t) for t in raw.get("exclude") or ()),
            )
        )
    return tuple(categories)


def _campaigns(
    directory: Path, problems: list[Problem], digest: Any
) -> tuple[CampaignMessage, ...]:
    messages: list[CampaignMessage] = []
    for path in sorted(directory.glob("*.yaml")):
        data = _read_yaml(path, problems, digest)
        if not isinstance(data, Mapping) or not isinstance(data.get("messages"), list):
            problems.append(Problem(str(path), "", "应有 messages 列表 (needs a messages list)"))
            continue
        campaign = str(data.get("campaign") or path.stem)
        title = str(data.get("title") or campaign)
        for i, raw in enumerate(data["messages"]):
            if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
                problems.append(Problem(str(path), f"#{i + 1}", "消息需要 id (message needs id)"))
                continue
            msg_id = raw["id"]

            def fail(reason: str, msg_id: str = msg_id, where: str = str(path)) -> None:
                problems.append(Problem(where, msg_id, reason))

            text, basis = raw.get("text"), raw.get("basis")
            if not isinstance(text, str) or not text.strip():
                fail("缺少 text (missing text)")
                continue
            if not isinstance(basis, list) or not basis:
                fail("缺少 basis (missing basis)")
                basis = []
            messages.append(
                CampaignMessage(
                    id=msg_id,
                    campaign=campaign,
                    title=title,
                    text=text.strip(),
                    basis=tuple(_citations(basis, fail)),
                )
            )
    return tuple(messages)
