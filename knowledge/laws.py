"""Read statute texts (one Markdown file per law, one paragraph per article) and look up articles."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.numerals import parse_article

__all__ = ["REPEALED_LAWS", "LawLibrary", "default_laws_dir", "is_repealed"]

# Replaced by the Civil Code on 2021-01-01 (and 收养法 likewise): never cite them.
REPEALED_LAWS = frozenset(
    {
        "婚姻法",
        "继承法",
        "合同法",
        "民法通则",
        "侵权责任法",
        "物权法",
        "担保法",
        "民法总则",
        "收养法",
    }
)

_ARTICLE_START = re.compile(
    r"^(第[零〇一二两三四五六七八九十百千万\d]+条(?:之[一二三四五六七八九十]+)?)[\s\u3000]"
)


def default_laws_dir() -> Path:
    """Return the statute texts shipped with the package (the ones the KB cites)."""
    return Path(__file__).resolve().parent / "statutes"


def is_repealed(law: str) -> bool:
    """Tell whether a law name names a repealed law."""
    return law.removeprefix("中华人民共和国").strip("《》 ") in REPEALED_LAWS


@dataclass
class LawLibrary:
    """The laws of one directory, parsed lazily and cached per law."""

    directory: Path
    _cache: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def has_law(self, law: str) -> bool:
        """Tell whether the directory holds a text of this law."""
        return self._path(law).is_file()

    def laws(self) -> list[str]:
        """List the law names held in the directory."""
        return sorted(p.stem for p in self.directory.glob("*.md") if p.stem != "README")

    def article(self, law: str, article: int | str) -> str | None:
        """Return the text of an article, or None if the law or the article is missing."""
        try:
            label = parse_article(article)
        except ValueError:
            return None
        return self.articles(law).get(label)

    def articles(self, law: str) -> dict[str, str]:
        """Return every article of a law, label → text (empty if the law is missing)."""
        if law not in self._cache:
            path = self._path(law)
            self._cache[law] = _parse(path.read_text(encoding="utf-8")) if path.is_file() else {}
        return self._cache[law]

    def _path(self, law: str) -> Path:
        # A law name never contains a path separator; refuse anything that could escape the dir.
        if "/" in law or "\\" in law or law.startswith("."):
            return self.directory / "\0invalid"
        return self.directory / f"{law}.md"


def _parse(text: str) -> dict[str, str]:
    articles: dict[str, str] = {}
    current: str | None = None
    body: list[str] = []
    _, _, text = text.partition("<!-- INFO END -->")
    for line in text.splitlines():
        match = _ARTICLE_START.match(line)
        if match:
            if current is not None:
                articles.setdefault(current, "\n".join(body).strip())
            current = parse_article(match.group(1))
            body = [line[match.end() :].strip()]
        elif line.startswith("#"):
            if current is not None:
                articles.setdefault(current, "\n".join(body).strip())
            current, body = None, []
        elif current is not None and line.strip():
            body.append(line.strip())
    if current is not None:
        articles.setdefault(current, "\n".join(body).strip())
    return articles
