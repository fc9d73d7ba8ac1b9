"""Risk triage: spot messages that need emergency numbers before any FAQ answer.

The trigger phrases live in the KB (`triage.yaml`), not here; this module prepares the text and
runs the patterns. `detect_risk` is pure (no I/O) and takes about a millisecond for a usual
message (the patterns of a category tuple are compiled once, on first use, and cached).

Preparing a message (`prepare`)
    The text goes through the matcher's normaliser (`knowledge.normalize.normalize`: NFKC, lower
    case, traditional → simplified, fillers and clause-edge particles dropped, the built-in dialect
    forms such as 冇→没有, 啥→什么), clause by clause so that a long story is never cut; then Jiangxi
    dialect words are folded (伢崽/伢子/伢→孩子, 崽→儿子, 堂客/婆娘→老婆, 老倌→老公, 渠→他, 屋里→家里,
    哒→了, 家抱→家暴). Spaces and punctuation are gone; clauses are joined by `/` (none around a
    one-character clause: 我 不 想 活 了), so a literal run never spans two clauses. Every
    character also carries its fuzzy pinyin key (`knowledge.tokenize.pinyin_keys`: zh=z, n=l, r=l,
    f=h, ang=an, ing=in…), so that a pattern can match a homophone typo. Within one call a clause
    regex seen before on the same text (a named group such as {现在} recurs) is not run again.

Patterns (the `triggers` and `exclude` entries of a category)
    * a phrase: `喝农药`; `…` allows up to 6 other characters there, `……` up to 16
      (`老公…打我` fires on 老公昨晚又打我);
    * `(a|b|c)`: one of the alternatives; an empty alternative makes the group optional, `(又|)打我`;
    * `{name}`: a named alternative group, defined once by an `exclude` entry `{name} = a|b|c`
      (looked up in the category first, then in the other categories passed);
    * `A & B & !C`: A and B occur somewhere in the message and C does not.
    Homophones: in a trigger's literal run of four or more characters any one character may be a
    homophone typo (same fuzzy pinyin; in the first clause of an `A & B` pattern only: the later
    context clauses and every `!` clause are exact unless they hold a `~`); `~` marks a shorter
    run that may (`喝~药` also fires on 喝要, `砍~人` on 砍认); `=` at the start of a pattern turns homophones off. Short runs are exact by
    default because two-character homophones are everywhere (签了/抢了, 司法/死法, 去世/去死).
    Blank-out exclusions allow one homophone in runs of three or more (`杀人犯` also blanks 杀仁犯).

Deciding (`detect_risk`)
    For each category in file order: an `exclude` entry with `&` (or starting with `!`) is a veto:
    when it holds on the message (`{过去} & !{现在}`: a past event and nothing happening now) the
    category does not fire; every other `exclude` pattern is blanked out of the message (打官司,
    杀猪, 打过 cannot fire a trigger; a negated clause of a trigger looks at the blanked text too).
    Then the first category with a trigger present wins.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import pypinyin  # noqa: F401  (loaded with the module, so detect_risk never reads files)

from knowledge.models import TriageCategory
from knowledge.normalize import BUILTIN_SYNONYMS, Replacer, is_cjk, normalize, to_simplified
from knowledge.tokenize import pinyin_keys

__all__ = ["PatternError", "check_patterns", "detect_risk", "explain", "prepare", "simplify"]

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_CLAUSE = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef]+")
_MAX_CHARS = 4000
_CLAUSE_CHARS = 200  # the normaliser keeps at most 240 characters: feed it shorter pieces
_SHORT_GAP = 6
_LONG_GAP = 16
_TRIGGER_FUZZ = 4  # literal runs this long may hold one homophone; `~` marks shorter ones
_BLANK_FUZZ = 3
_KEY_WIDTH = 5  # fuzzy pinyin keys have at most 4 letters
_UNIT = 1 + _KEY_WIDTH + 1  # one character in the encoded text: char + padded key + ","
_MASK = "·"
_SEP = "/"  # between clauses of a message
_MASK_UNIT = _MASK + "~" * _KEY_WIDTH + ","
_BUILTIN = Replacer(BUILTIN_SYNONYMS)
_DEFINITION = re.compile(r"^\{([^{}=\s]+)\}\s*=\s*(.+)$")

# Dialect words and sound-alike typos folded before matching (longest first), after the
# normaliser's own forms (冇→没有, 啥→什么). Patterns are folded the same way.
_FOLD: tuple[tuple[str, str], ...] = (
    ("细伢子", "小孩"),
    ("细伢", "小孩"),
    ("小伢", "小孩"),
    ("伢崽", "孩子"),
    ("伢子", "孩子"),
    ("伢", "孩子"),
    ("崽崽", "孩子"),
    ("堂客", "老婆"),
    ("婆娘", "老婆"),
    ("老倌子", "老公"),
    ("老倌", "老公"),
    ("屋里", "家里"),
    ("家抱", "家暴"),
    ("家爆", "家暴"),
    ("加暴", "家暴"),
    ("家报", "家暴"),
    ("哒", "了"),  # Gan/Xiang perfective particle: 不见哒 = 不见了
)
_FOLD_RE = re.compile("|".join(re.escape(w) for w, _ in _FOLD))
_FOLD_MAP = dict(_FOLD)
# Single-character dialect words that are ordinary characters in other words.
_FOLD_CONTEXT: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![水沟河干])渠(?![道沟])"), "他"),  # 渠 = he/she, not 水渠/渠道
    (re.compile(r"(?<![猪狗鸡鸭鹅牛羊猫兔马])崽(?!子)"), "儿子"),  # 崽 = son, not 猪崽
)


class PatternError(ValueError):
    """A trigger or exclusion pattern cannot be read (unbalanced group, unknown {name})."""


def simplify(text: str) -> str:
    """Return NFKC, lower-case, simplified text without spaces, punctuation or emoji."""
    text = unicodedata.normalize("NFKC", text[:_MAX_CHARS]).lower()
    return _NOT_WORD.sub("", to_simplified(text))


def _fold(text: str) -> str:
    text = _FOLD_RE.sub(lambda m: _FOLD_MAP[m.group(0)], text)
    for pattern, canonical in _FOLD_CONTEXT:
        text = pattern.sub(canonical, text)
    return text


def prepare(text: str) -> str:
    """Return the text triage matches on: the matcher's normalised form, dialect words folded."""
    if not isinstance(text, str) or not text:
        return ""
    text = unicodedata.normalize("NFKC", text[:_MAX_CHARS]).lower()
    clauses: list[str] = []
    for clause in _CLAUSE.findall(text):
        pieces = [
            normalize(clause[start : start + _CLAUSE_CHARS])
            for start in range(0, len(clause), _CLAUSE_CHARS)
        ]
        joined = _NOT_WORD.sub("", "".join(pieces))
        if joined:
            clauses.append(joined)
    # Clauses stay apart: a literal run never spans a space or a comma (围着打 手机 is not 打手机),
    # a gap (`…`) may. A one-character clause is spaced-out typing (我 不 想 活 了): no separator.
    out: list[str] = []
    for i, clause in enumerate(clauses):
        if i and len(clause) > 1 and len(clauses[i - 1]) > 1:
            out.append(_SEP)
        out.append(clause)
    return _fold("".join(out))


@lru_cache(maxsize=65536)
def _key(ch: str) -> str:
    keys = pinyin_keys(ch) if is_cjk(ch) else []
    return (keys[0] if keys else ch)[:_KEY_WIDTH]


@lru_cache(maxsize=65536)
def _unit(ch: str) -> str:
    return ch + _key(ch).ljust(_KEY_WIDTH, "_") + ","


@lru_cache(maxsize=16384)
def _literal(text: str) -> str:
    """A pattern's literal run in the form messages take (same normaliser forms and folding)."""
    plain = _NOT_WORD.sub("", to_simplified(unicodedata.normalize("NFKC", text).lower()))
    return _fold(_BUILTIN(plain))


# --- compiling patterns ------------------------------------------------------------------------


class _Parser:
    """Turn one clause of pattern syntax into a regex.

    `encoded` regexes run over the encoded text (one `char key,` unit per character) and can match
    homophones; plain ones run over the prepared text itself and are used when a clause needs no
    homophone (most of them: they are several times faster).
    """

    def __init__(self, text: str, macros: dict[str, str], fuzz: int, *, encoded: bool) -> None:
        self.text = text
        self.pos = 0
        self.macros = macros
        self.fuzz = fuzz
        self.encoded = encoded
        self.fuzzy_used = False
        self.expanding: tuple[str, ...] = ()

    def fail(self, why: str) -> PatternError:
        return PatternError(f"triage pattern {self.text!r}: {why}")

    def parse(self) -> str:
        out = self.alternatives()
        if self.pos != len(self.text):
            raise self.fail(f"unexpected {self.text[self.pos]!r}")
        return out

    def alternatives(self) -> str:
        alts = [self.sequence()]
        while self.pos < len(self.text) and self.text[self.pos] == "|":
            self.pos += 1
            alts.append(self.sequence())
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    def run(self, chars: str, marked: bool) -> str:
        literal = _literal(chars)
        if not self.encoded:
            return re.escape(literal)
        exact = [re.escape(_unit(ch)) for ch in literal]
        least = 1 if marked else self.fuzz
        if not self.fuzz or len(literal) < least:
            return "".join(exact)
        variants = [
            "".join(exact[:i]) + "[^,]" + re.escape(_unit(ch)[1:]) + "".join(exact[i + 1 :])
            for i, ch in enumerate(literal)
            if is_cjk(ch)
        ]
        if not variants:
            return "".join(exact)
        self.fuzzy_used = True
        return "(?:" + "|".join(variants) + ")"

    def gap(self, size: int) -> str:
        if self.encoded:
            return f"(?:[^,]{{{_UNIT - 1}}},){{0,{size}}}"
        return f".{{0,{size}}}"

    def sequence(self) -> str:
        parts: list[str] = []
        chars: list[str] = []
        marked = False

        def flush() -> None:
            nonlocal marked
            if chars:
                parts.append(self.run("".join(chars), marked))
                chars.clear()
            marked = False

        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in "|)":
                break
            self.pos += 1
            if ch == "(":
                flush()
                inner = self.alternatives()
                if self.pos >= len(text) or text[self.pos] != ")":
                    raise self.fail("unclosed (")
                self.pos += 1
                parts.append(f"(?:{inner})")
            elif ch == "{":
                flush()
                end = text.find("}", self.pos)
                if end < 0:
                    raise self.fail("unclosed {")
                parts.append(self.macro(text[self.pos : end]))
                self.pos = end + 1
            elif ch == "…":
                flush()
                start = self.pos - 1
                while self.pos < len(text) and text[self.pos] == "…":
                    self.pos += 1
                parts.append(self.gap(_SHORT_GAP if self.pos - start == 1 else _LONG_GAP))
            elif ch == "~":
                flush()
                marked = True
            elif ch.isspace():
                flush()
            else:
                chars.append(ch)
        flush()
        return "".join(parts)

    def macro(self, name: str) -> str:
        if name not in self.macros:
            raise self.fail(f"unknown {{{name}}} (define it with an exclude entry {{{name}}} = …)")
        if name in self.expanding:
            raise self.fail(f"{{{name}}} refers to itself")
        saved = (self.text, self.pos, self.expanding)
        self.text, self.pos, self.expanding = self.macros[name], 0, (*self.expanding, name)
        try:
            body = self.parse()
        finally:
            self.text, self.pos, self.expanding = saved
        return f"(?:{body})"


@dataclass(frozen=True, slots=True)
class _Clause:
    regex: re.Pattern[str]
    encoded: bool  # runs over the encoded text (homophones) rather than the plain text
    negative: bool

    def found(
        self, plain: str, encoded: str, seen: dict[tuple[str, str], bool] | None = None
    ) -> bool:
        text = encoded if self.encoded else plain
        if seen is None:
            return self.regex.search(text) is not None
        key = (self.regex.pattern, text)  # one named group ({现在}) recurs in many patterns
        hit = seen.get(key)
        if hit is None:
            hit = seen[key] = self.regex.search(text) is not None
        return hit


@dataclass(frozen=True, slots=True)
class _Pattern:
    text: str
    clauses: tuple[_Clause, ...]

    def holds(
        self, plain: str, encoded: str, seen: dict[tuple[str, str], bool] | None = None
    ) -> bool:
        return all(c.found(plain, encoded, seen) != c.negative for c in self.clauses)


def _clause(raw: str, macros: dict[str, str], fuzz: int) -> tuple[str, bool]:
    parser = _Parser(raw, macros, fuzz, encoded=True)
    regex = parser.parse()
    if parser.fuzzy_used:
        return regex, True
    return _Parser(raw, macros, 0, encoded=False).parse(), False


def _compile(text: str, macros: dict[str, str], fuzz: int) -> _Pattern:
    body = text.strip()
    if body.startswith("="):
        body, fuzz = body[1:], 0
    clauses = []
    for index, raw in enumerate(body.split("&")):
        raw = raw.strip()
        negative = raw.startswith("!")
        raw = raw.removeprefix("!").strip()
        if not raw:
            raise PatternError(f"triage pattern {text!r}: empty clause")
        # Homophones are looked for in the first clause (the act) and wherever `~` asks; the
        # context clauses after `&` (now, a place, a legal word) are exact, which keeps them on
        # the fast plain text; a `!` clause is always exact.
        exact = negative or (index > 0 and "~" not in raw)
        regex, encoded = _clause(raw, macros, 0 if exact else fuzz)
        if not regex:
            raise PatternError(f"triage pattern {text!r}: nothing to match")
        anchored = f"(?<![^,]){regex}" if encoded else regex  # encoded: start at a unit
        clauses.append(_Clause(re.compile(anchored), encoded, negative))
    if all(c.negative for c in clauses):
        raise PatternError(f"triage pattern {text!r}: needs a positive clause")
    return _Pattern(text, tuple(clauses))


@dataclass(frozen=True, slots=True)
class _Compiled:
    category: TriageCategory
    blanks: tuple[_Clause, ...]
    vetoes: tuple[_Pattern, ...]
    triggers: tuple[_Pattern, ...]
    encoded: bool  # some pattern needs the encoded text


def _definitions(category: TriageCategory) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in category.exclude:
        found = _DEFINITION.match(entry.strip())
        if found:
            out[found.group(1)] = found.group(2).strip()
    return out


@lru_cache(maxsize=32)
def _compiled(categories: tuple[TriageCategory, ...]) -> tuple[_Compiled, ...]:
    shared: dict[str, str] = {}
    for category in categories:
        for name, body in _definitions(category).items():
            shared.setdefault(name, body)
    out = []
    for category in categories:
        macros = {**shared, **_definitions(category)}
        blanks: list[_Clause] = []
        vetoes: list[_Pattern] = []
        for entry in category.exclude:
            entry = entry.strip()
            if not entry or _DEFINITION.match(entry):
                continue
            if "&" in entry or entry.startswith("!"):
                vetoes.append(_compile(entry, macros, fuzz=0))
            else:
                blanks.append(_compile(entry, macros, fuzz=_BLANK_FUZZ).clauses[0])
        triggers = tuple(
            _compile(t, macros, fuzz=_TRIGGER_FUZZ) for t in category.triggers if t.strip()
        )
        encoded = any(b.encoded for b in blanks) or any(
            c.encoded for p in (*vetoes, *triggers) for c in p.clauses
        )
        out.append(_Compiled(category, tuple(blanks), tuple(vetoes), triggers, encoded))
    return tuple(out)


def check_patterns(categories: Sequence[TriageCategory]) -> None:
    """Compile every pattern; raise `PatternError` on the first one that cannot be read."""
    _compiled(tuple(categories))


# --- matching ----------------------------------------------------------------------------------


def _masked(plain: str, encoded: str, blanks: Sequence[_Clause]) -> tuple[str, str]:
    """The plain and encoded texts with every blank-out exclusion replaced by mask characters."""
    hidden: set[int] = set()
    for blank in blanks:
        if blank.encoded:
            for m in blank.regex.finditer(encoded):
                hidden.update(range(m.start() // _UNIT, m.end() // _UNIT))
        else:
            for m in blank.regex.finditer(plain):
                hidden.update(range(m.start(), m.end()))
    if not hidden:
        return plain, encoded
    chars = [_MASK if i in hidden else ch for i, ch in enumerate(plain)]
    masked_encoded = "".join(_MASK_UNIT if c == _MASK else _unit(c) for c in chars)
    return "".join(chars), masked_encoded


def _first(text: str, categories: Sequence[TriageCategory]) -> tuple[TriageCategory, str] | None:
    plain = prepare(text)
    if not plain:
        return None
    compiled_all = _compiled(tuple(categories))
    encoded = "".join(map(_unit, plain)) if any(c.encoded for c in compiled_all) else ""
    seen: dict[tuple[str, str], bool] = {}
    for compiled in compiled_all:
        if any(v.holds(plain, encoded, seen) for v in compiled.vetoes):
            continue
        masked, masked_encoded = _masked(plain, encoded, compiled.blanks)
        for trigger in compiled.triggers:
            if trigger.holds(masked, masked_encoded, seen):
                return compiled.category, trigger.text
    return None


def explain(text: str, categories: Sequence[TriageCategory]) -> tuple[str, str] | None:
    """Return (category key, the trigger that fired) for a message, or None."""
    found = _first(text, categories)
    return (found[0].key, found[1]) if found else None


def detect_risk(text: str, categories: Sequence[TriageCategory]) -> TriageCategory | None:
    """Return the first risk category whose trigger appears in the message, or None."""
    found = _first(text, categories)
    return found[0] if found else None
