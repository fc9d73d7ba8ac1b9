"""Pure rendering of what the service decided into channel-agnostic replies (no I/O)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot import texts
from bot.config import Village
from bot.services import actions
from knowledge.models import Citation, Entry, Topic, TriageCategory, short_law_name

__all__ = [
    "Button",
    "Reply",
    "answer_reply",
    "cite",
    "escalated_reply",
    "numbered_choice",
    "suggest_reply",
    "topic_reply",
    "topics_reply",
    "urgent_reply",
    "village_keyboard",
]

BUTTON_LABEL_MAX = 48


@dataclass(frozen=True, slots=True)
class Button:
    """A choice offered to the user: a label and the action sent back when chosen (≤ 64 bytes)."""

    label: str
    action: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to show: text and rows of buttons."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    request_contact: bool = False  # ask the messenger for the user's phone number (with consent)

    def flat_buttons(self) -> list[Button]:
        """Return the buttons in reading order (for numbered choices on the console)."""
        return [b for row in self.buttons for b in row]


def _label(text: str) -> str:
    return text if len(text) <= BUTTON_LABEL_MAX else text[: BUTTON_LABEL_MAX - 1] + "…"


def village_keyboard(villages: Sequence[Village]) -> tuple[tuple[Button, ...], ...]:
    """Lay the villages out three to a row."""
    buttons = [Button(v.name, actions.encode(actions.VILLAGE, v.code)) for v in villages]
    return tuple(tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3))


def answer_reply(
    entry: Entry, *, consultation_id: int, elder: bool, laws_available: bool
) -> Reply:
    """Render an FAQ answer with its legal basis, next steps and feedback buttons."""
    citations = cite(entry.basis)
    if elder and entry.short:
        text = f"{entry.short}\n\n{texts.ANSWER_BASIS.format(citations=citations)}"
        first_row: tuple[Button, ...] = (
            Button(texts.BUTTON_MORE, actions.encode(actions.MORE, consultation_id)),
        )
    else:
        text = "\n\n".join(
            (
                entry.answer,
                texts.ANSWER_BASIS.format(citations=citations),
                texts.ANSWER_NEXT.format(next_steps=entry.next_steps),
                texts.ANSWER_DISCLAIMER,
            )
        )
        first_row = ()
    feedback = (
        Button(texts.BUTTON_HELPFUL, actions.encode(actions.FEEDBACK, consultation_id, "y")),
        Button(texts.BUTTON_NOT_HELPFUL, actions.encode(actions.FEEDBACK, consultation_id, "n")),
    )
    extra = [Button(texts.BUTTON_ADVISOR, actions.encode(actions.ADVISOR, consultation_id))]
    if laws_available:
        extra.insert(0, Button(texts.BUTTON_LAW, actions.encode(actions.LAW, consultation_id)))
    rows = tuple(r for r in (first_row, feedback, tuple(extra)) if r)
    return Reply(text=text, buttons=rows)


def confirm_reply(
    entry: Entry,
    alternatives: Sequence[Entry],
    *,
    consultation_id: int,
    elder: bool,
    laws_available: bool,
) -> Reply:
    """Render an answer with a check: what we understood, the answer, and what else it may be.

    The alternatives are the consultation's candidates 2 and 3, picked with `pick:<cid>:1|2`.
    """
    answer = answer_reply(
        entry, consultation_id=consultation_id, elder=elder, laws_available=laws_available
    )
    lines = [texts.CONFIRM_INTRO.format(question=entry.question), "", answer.text]
    if alternatives:
        lines += ["", texts.CONFIRM_NOT_THIS]
        lines += [f"{i}. {e.question}" for i, e in enumerate(alternatives, 1)]
        lines.append(texts.CONFIRM_NUMBERED_HINT)
    others = tuple(
        (Button(_label(f"{i}. {e.question}"), actions.encode(actions.PICK, consultation_id, i)),)
        for i, e in enumerate(alternatives, 1)
    )
    none = (
        (Button(texts.BUTTON_NONE_OF_THESE, actions.encode(actions.ADVISOR, consultation_id)),),
    )
    feedback_and_law = tuple(
        row
        for row in answer.buttons
        if not any(actions.decode(b.action)[0] == actions.ADVISOR for b in row)
    )
    return Reply(text="\n".join(lines), buttons=feedback_and_law + others + none)


def cite(basis: Sequence[Citation]) -> str:
    """Render citations grouped by law: 《民法典》第二百三十六条、第二百三十七条；《土地管理法》第六十二条."""
    grouped: dict[str, list[str]] = {}
    for citation in basis:
        grouped.setdefault(short_law_name(citation.law), []).append(citation.label)
    return "；".join(f"《{law}》{'、'.join(labels)}" for law, labels in grouped.items())


def full_answer_reply(entry: Entry, *, consultation_id: int, laws_available: bool) -> Reply:
    """Render the full answer (the 更多 button of elder mode)."""
    return answer_reply(
        entry, consultation_id=consultation_id, elder=False, laws_available=laws_available
    )


def suggest_reply(
    entries: Sequence[Entry],
    *,
    consultation_id: int,
    elder: bool,
    intro: str = texts.SUGGEST_INTRO,
) -> Reply:
    """Offer up to three candidate questions and a way to reach the advisor."""
    lines = [intro]
    if elder:
        lines += [f"{i}. {e.question}" for i, e in enumerate(entries, 1)]
        lines.append(texts.SUGGEST_NUMBERED_HINT)
    buttons = tuple(
        (
            Button(
                _label(f"{i}. {e.question}" if elder else e.question),
                actions.encode(actions.PICK, consultation_id, i - 1),
            ),
        )
        for i, e in enumerate(entries, 1)
    )
    none = (
        (Button(texts.BUTTON_NONE_OF_THESE, actions.encode(actions.ADVISOR, consultation_id)),),
    )
    return Reply(text="\n".join(lines), buttons=buttons + none)


def escalated_reply(village: Village, *, hours: float, guidance: str = "") -> Reply:
    """Tell the villager who will answer and roughly when (and where such matters go)."""
    text = texts.ESCALATED.format(
        village=village.name, advisor=village.advisor_name, hours=_hours(hours)
    )
    if guidance:
        text = f"{text}\n\n{texts.GUIDANCE.format(guidance=guidance)}"
    return Reply(text)


def urgent_reply(category: TriageCategory, village: Village | None) -> Reply:
    """Show the emergency numbers first, then say the case went to the advisor and the office."""
    numbers = [texts.URGENT_NUMBERS.get(n, n) for n in category.numbers] or ["110 报警"]
    lines = [texts.URGENT_HEAD, *(f"☎ {n}" for n in numbers)]
    if category.message:
        lines.append(category.message)
    if village is not None:
        lines.append(texts.URGENT_TAIL.format(village=village.name))
    else:
        lines.append(texts.URGENT_TAIL_NO_VILLAGE)
    return Reply("\n".join(lines))


def topics_reply(topics: Sequence[Topic]) -> Reply:
    """List the topics as buttons, two to a row."""
    buttons = [Button(t.name, actions.encode(actions.TOPIC, t.key)) for t in topics]
    rows = tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))
    return Reply(texts.TOPICS_INTRO, rows)


def topic_reply(topic: Topic, entries: Sequence[Entry]) -> Reply:
    """Show a topic's most asked questions as buttons."""
    rows = tuple((Button(_label(e.question), actions.encode(actions.FAQ, e.id)),) for e in entries)
    return Reply(texts.TOPIC_INTRO.format(topic=topic.name), rows)


# Typed requests for a person instead of the bot (checked on short messages only, so a story that
# mentions a lawyer is still matched as a question).
PERSON_REQUESTS = (
    "转人工",
    "人工服务",
    "人工客服",
    "找人工",
    "要人工",
    "真人",
    "找法律顾问",
    "找顾问",
    "要法律顾问",
    "转法律顾问",
    "转给法律顾问",
    "联系法律顾问",
    "找律师",
    "要律师",
    "找司法所",
    "找个人",
    "找人问",
    "和人说",
    "跟人说",
    "找个律师",
    "真的律师",
    "真律师",
    "请律师帮我",
    "跟真人讲",
    "和真人说",
    "有没有人工",
    "有冇人工",
)
_PERSON_MAX_CHARS = 18


def asks_for_person(text: str) -> bool:
    """Tell whether a short message asks for a person (转人工, 找法律顾问, 我要找律师)."""
    plain = "".join(ch for ch in text if ch.isalnum())
    return len(plain) <= _PERSON_MAX_CHARS and any(p in plain for p in PERSON_REQUESTS)


NOT_THIS = (
    "不是",
    "不对",
    "都不是",
    "不是这个",
    "不是这个问题",
    "不是我问的",
    "答非所问",
    "不是这样",
)
_NOT_THIS_MAX_CHARS = 8


# What may follow 不是/都不是 in a rejection without making it a new question.
_NOT_THIS_TAIL = re.compile(
    r"^(我|我要|我想|我说|我问)?(问|说)?的?(不是|都不是)?(这个|这些|这样|那个|这几个|这种)?"
    r"(问题|意思)?(啊|呀|的|哦|嘛|咯|了)*$"
)


def rejects_shown(text: str) -> bool:
    """Tell whether a short message says the shown answer or list is not what was asked."""
    plain = "".join(ch for ch in text if ch.isalnum())
    plain = plain.removesuffix("啊").removesuffix("呀").removesuffix("的")
    if len(plain) <= _NOT_THIS_MAX_CHARS and plain in NOT_THIS:
        return True
    head = next((n for n in sorted(NOT_THIS, key=len, reverse=True) if plain.startswith(n)), None)
    return (
        head is not None
        and len(plain) <= 2 * _NOT_THIS_MAX_CHARS
        and _NOT_THIS_TAIL.fullmatch(plain[len(head) :]) is not None
    )


THANKS = ("谢谢", "多谢", "谢谢你", "谢谢您", "谢了", "好的", "好", "好嘞", "知道了", "明白了", "晓得了",
          "嗯", "嗯嗯", "收到", "可以了", "没事了", "谢谢老师", "谢谢律师", "辛苦了", "ok", "OK")  # fmt: skip


# Pieces a run of acknowledgements is made of (好的晓得了, 哦哦要得多谢).
_THANKS_PIECES = tuple(
    sorted(
        {*THANKS, "哦", "哦哦", "噢", "要得", "好滴", "好呢", "行", "行的", "可以", "嗯呢", "晓得",
         "知道", "明白", "懂了", "多谢你", "谢谢啦", "麻烦你了", "感谢", "非常感谢", "了", "啊", "哈",
         "啦", "呀", "的"},
        key=len,
        reverse=True,
    )
)  # fmt: skip
_THANKS_MAX_CHARS = 16


def is_thanks(text: str) -> bool:
    """Tell whether a message only thanks or acknowledges (谢谢、好的晓得了、哦哦要得多谢)."""
    plain = "".join(ch for ch in text if ch.isalnum())
    plain = plain.removesuffix("啊").removesuffix("哈").removesuffix("啦").removesuffix("了")
    if not plain:
        return False
    if plain in THANKS or plain + "了" in THANKS:
        return True
    if len(plain) > _THANKS_MAX_CHARS:
        return False
    rest = plain
    while rest:
        piece = next((p for p in _THANKS_PIECES if rest.startswith(p)), None)
        if piece is None:
            return False
        rest = rest[len(piece) :]
    return any(p in plain for p in THANKS if len(p) >= 2) or "要得" in plain


# Words that make a short message a question of its own (used inside an advisor thread).
_QUESTION_MARKS = re.compile(
    r"[?？]|吗|么|嘛|怎|如何|能不能|可不可以|要不要|有没有|有冇|是不是|哪|几多|多少|多久|谁|什么|么子|啥|"
    r"算不算|会不会|行不行|犯法|合法|违法|赔|[冇没]有?$|不$"
)


def is_question(text: str) -> bool:
    """Tell whether a message asks something (a question word or mark), as opposed to a reply."""
    return _QUESTION_MARKS.search(text) is not None


# Typed "start again": leaves an advisor thread and any list on offer, like the 问新问题 button.
STARTS_OVER = ("重新问", "重新问一个", "问新问题", "新问题", "问个新问题", "问别的", "问别的问题",
               "换个问题", "换一个问题", "重新开始", "从头问", "我要重新问", "我想重新问", "再问一个")  # fmt: skip


def starts_over(text: str) -> bool:
    """Tell whether a short message asks to start a new question (重新问, 问新问题, 换个问题)."""
    plain = "".join(ch for ch in text if ch.isalnum())
    plain = plain.removeprefix("算了").removeprefix("那").removeprefix("好")
    plain = plain.removesuffix("吧").removesuffix("啊").removesuffix("了")
    return plain in STARTS_OVER


# Word forms of the villager commands, for channels without a command menu (WeChat, web chat,
# the console) and for people who do not type slashes. Whole short messages only.
WORD_COMMANDS = {
    "删除我的记录": "forget", "删除我的信息": "forget", "删除记录": "forget", "删掉我的记录": "forget",
    "忘记我": "forget", "清除我的记录": "forget",
    "我的记录": "mydata", "查看我的记录": "mydata", "我的信息": "mydata", "查我的记录": "mydata",
    "帮助": "help", "怎么用": "help", "使用说明": "help", "菜单": "help",
    "常见问题": "topics", "问题分类": "topics", "按主题看": "topics",
    "订阅普法": "subscribe", "订阅普法消息": "subscribe",
    "退订": "unsubscribe", "取消订阅": "unsubscribe", "退订普法": "unsubscribe",
    "换村": "village", "选村": "village", "更换村": "village",
}  # fmt: skip


def word_command(text: str) -> str | None:
    """Return the command a whole short message names (删除我的记录 → forget), or None."""
    plain = "".join(ch for ch in text if ch.isalnum())
    return WORD_COMMANDS.get(plain)


def numbered_choice(text: str) -> int | None:
    """Read a typed choice 0–9 (elder mode), full-width digits included; None otherwise."""
    stripped = text.strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    return int(stripped) if len(stripped) == 1 and stripped.isdecimal() else None


def _hours(hours: float) -> str:
    return str(int(hours)) if float(hours).is_integer() else f"{hours:g}"
