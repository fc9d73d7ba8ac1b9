"""Risk triage on what villagers type: the real detect_risk over the shipped triage.yaml.

The examples are written for these tests (dialect words, homophone typos, long stories, past and
hypothetical events); none is taken from the labelled triage sets in knowledge/eval/triage.
"""

from __future__ import annotations

import builtins
import io
import os
import time
from collections.abc import Sequence

import pytest

from knowledge.models import KnowledgeBase, TriageCategory
from knowledge.triage import PatternError, check_patterns, detect_risk, explain, prepare

URGENT: dict[str, list[str]] = {
    "self_harm": [
        "我不想活了 活着太累了",
        "我准备喝敌敌畏了 别劝我",
        "我把安眠药都吞了",
        "老公说要上吊 绳子都买了",
        "活着冇得意思 想死",
        "喝要了 头好昏",  # 喝要 = 喝药
        "不想获了",  # 获 = 活
        "我爸得了癌症 说不想拖累我们 今天一个人去了水库",
        "我實在不想活了",
        "我现在在河边 天黑了 不想回去了 活着没意思",
    ],
    "fire": [
        "着火了 快来人",
        "屋后的柴堆烧起来了 火好大",
        "隔壁在冒黑烟 好像着火了 里面有老人",
        "山上失火了 往村子这边烧",
        "我家楼下着火了 我被困在三楼下不去",
        "厨房的油锅着了",
        "救火 救火 我家着火了",
        "村里的电线杆倒了 起火了 电线在地上冒火花",
    ],
    "child_danger": [
        "我孙子不见了 找了一上午",
        "有人把我家伢崽抱走了",
        "我细伢子被人拐走了",
        "伢崽不见哒",
        "我家小孩掉到水塘里了",
        "邻居天天打他家伢 伢身上都是伤",
        "我女儿才十三岁 她爸要把她嫁出去换彩礼",
        "有个伢子在马路中间一个人走 车好多 周围没大人",
    ],
    "domestic_violence": [
        "我老公又打我了 打得我鼻子出血",
        "老倌喝醉酒就打人 现在又在打",
        "我堂客拿刀要砍我",
        "渠打我 打得好狠 我跑到邻居家了",  # 渠 = 他
        "老公说我再敢离婚就杀了我全家",
        "我被家爆了 现在躲在外面",
        "我被家抱了",
        "男人又发酒疯了 我跟伢躲在邻居家",
        "我跟老倌吵了几句 他就把我往死里打 现在我的头还在流血 伢子在哭",
    ],
    "violence": [
        "有人在村口砍认",  # 砍认 = 砍人
        "有个人拿着刀在追我",
        "救命 有人要杀我",
        "几个混混把我堵在巷子里 要打我",
        "被人捅了一刀 流了好多血",
        "有人在我家门口闹 说要杀了我们全家",
        "有几个人在我家门口 说再不还钱就把我家烧了",
    ],
    "ongoing_crime": [
        "有人在撬我家的门",
        "小偷进了我家 我躲在房间里",
        "一个自称警察的说我涉嫌洗钱 叫我把钱转到安全账户 我已经转了一万",
        "网上有人叫我刷单 我刚转了五千 他说还要再转",
        "有人在偷我家的牛",
        "对方叫我开屏幕共享 我卡里的钱在被转走",
        "骗子在跟我爸打电话 叫他把钱转过去",
    ],
}

ORDINARY = [
    # the past, or a question about what happened
    "去年被打了想要医药费",
    "以前被老公打过 现在离婚了 能要赔偿吗",
    "我老公打我是十年前的事了 现在他改了",
    "邻居家上个月着火了 烧到我家的墙 要他赔吗",
    "被骗了两万 去年的事 能追回吗",
    "我哥前几年喝农药走了 他的地谁来种",
    "孩子小时候走丢过 找回来了 那个人贩子判了几年",
    "前年有人放火烧了我家的柴房 判了 赔偿还没给",
    # hypothetical or about the law
    "拐卖妇女判几年",
    "故意伤害罪判几年",
    "自杀的人保险赔不赔",
    "放火罪和失火罪的区别",
    "家暴离婚能多分财产吗",
    "人身安全保护令要什么材料",
    # everyday words
    "砍树要办证吗",
    "杀猪要交税吗",
    "过年杀猪要不要交税",
    "烧秸秆被罚了款",
    "邻居杀了我家的鸡 要他赔",
    "老公天天打麻将不回家",
    "打官司要多少钱",
    "气死我了 快递丢了",
    "我想问问跳槽要赔违约金吗",
    "火锅店烫伤了 要赔吗",
    "我堂客要跟我离婚 伢崽归谁",
    "渠不还我钱 怎么告",
    "老公喝酒后经常吵架 但没动手",
]


def _cases() -> list[tuple[str, str]]:
    return [(key, text) for key, texts in URGENT.items() for text in texts]


@pytest.mark.parametrize(("key", "text"), _cases())
def test_typed_emergencies_get_their_category(kb: KnowledgeBase, key: str, text: str) -> None:
    got = detect_risk(text, kb.triage)
    assert got is not None, text
    assert got.key == key, (text, explain(text, kb.triage))


@pytest.mark.parametrize("text", ORDINARY)
def test_past_hypothetical_and_everyday_words_do_not_fire(kb: KnowledgeBase, text: str) -> None:
    assert detect_risk(text, kb.triage) is None, explain(text, kb.triage)


def test_a_present_danger_still_fires_after_a_past_one(kb: KnowledgeBase) -> None:
    text = "老公去年就打过我 今天又喝醉了 拿着凳子砸我 我躲在厕所里"
    got = detect_risk(text, kb.triage)
    assert got is not None
    assert got.key == "domestic_violence"


def test_fire_category_shows_119_first_and_tells_them_to_get_out(kb: KnowledgeBase) -> None:
    fire = next(c for c in kb.triage if c.key == "fire")
    assert fire.numbers[:2] == ("119", "110")
    assert "119" in fire.message
    assert any(word in fire.message for word in ("离开", "逃", "跑"))


def test_domestic_violence_shows_12338_and_the_protection_order(kb: KnowledgeBase) -> None:
    dv = next(c for c in kb.triage if c.key == "domestic_violence")
    assert "12338" in dv.numbers
    assert "人身安全保护令" in dv.message


def test_spouse_violence_goes_to_domestic_violence_not_violence(kb: KnowledgeBase) -> None:
    for text in ("老公昨晚打我", "我男人拿菜刀要砍我", "隔壁男的天天打老婆"):
        got = detect_risk(text, kb.triage)
        assert got is not None, text
        assert got.key == "domestic_violence", text


def test_text_is_the_matchers_normalised_form_with_dialect_folded() -> None:
    assert prepare("請問一下，我老公打我怎麼辦啊？") == "我老公打我怎么办"
    assert prepare("伢崽冇看到了") == "孩子没有看到了"
    assert prepare("渠打我 水渠 渠道") == "他打我水渠渠道"
    assert prepare("猪崽不见了 崽打我") == "猪崽不见了儿子打我"
    assert prepare("") == ""


def test_detect_risk_reads_no_files(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    detect_risk("先编译一次", kb.triage)

    def no_io(*args: object, **kwargs: object) -> None:
        raise AssertionError("detect_risk opened a file")

    monkeypatch.setattr(builtins, "open", no_io)
    monkeypatch.setattr(io, "open", no_io)
    monkeypatch.setattr(os, "open", no_io)
    got = detect_risk("鬰鬱的龘靐在燒 我家著火了", kb.triage)  # rare characters: fresh pinyin keys
    assert got is not None
    assert got.key == "fire"


def test_triage_takes_a_few_milliseconds(kb: KnowledgeBase) -> None:
    texts = [t for _, t in _cases()] + ORDINARY
    detect_risk(texts[0], kb.triage)
    started = time.perf_counter()
    for text in texts:
        detect_risk(text, kb.triage)
    mean_ms = (time.perf_counter() - started) * 1000 / len(texts)
    assert mean_ms < 5, mean_ms
    started = time.perf_counter()
    detect_risk("我老公" * 1300, kb.triage)  # about the longest message triage looks at
    assert time.perf_counter() - started < 1.0


def test_shipped_patterns_all_compile(kb: KnowledgeBase) -> None:
    check_patterns(kb.triage)


# --- the pattern language, on small made-up categories ------------------------------------


def _category(
    triggers: Sequence[str], exclude: Sequence[str] = (), key: str = "k"
) -> TriageCategory:
    return TriageCategory(key, key, ("110",), "", tuple(triggers), tuple(exclude))


def test_gaps_alternatives_and_names() -> None:
    cats = (_category(["老公…打我", "(喝|吃)了{毒}", "天天……打她"], ["{毒} = 农药|老鼠药"]),)
    assert detect_risk("老公昨晚又打我", cats)
    assert not detect_risk("老公在外面做工好几年了打我", cats)
    assert detect_risk("他吃了老鼠药", cats)
    assert detect_risk("天天在家里喝酒喝醉了就打她", cats)
    assert not detect_risk("喝了农夫山泉", cats)


def test_conjunction_negation_and_vetoes() -> None:
    cats = (_category(["被打 & (现在|还在)", "砍 & !树"], ["去年 & !今天"]),)
    assert detect_risk("我被打了 他现在还在门口", cats)
    assert not detect_risk("我被打了 想要医药费", cats)
    assert detect_risk("有人拿刀砍", cats)
    assert not detect_risk("有人在砍树", cats)
    assert not detect_risk("去年被打了 现在还在疼", cats)
    assert detect_risk("去年被打了 今天他现在又来了", cats)


def test_blanked_exclusions_cannot_fire_a_trigger() -> None:
    cats = (_category(["打我", "杀人"], ["打我电话", "杀人犯"]),)
    assert not detect_risk("他老是打我电话", cats)
    assert detect_risk("他打我电话 还打我", cats)
    assert not detect_risk("杀仁犯要判死刑吗", cats)  # a homophone inside a 3-character exclusion


def test_homophones_only_where_allowed() -> None:
    cats = (_category(["喝~药", "不想活了", "=活够了", "砍人"]),)
    assert detect_risk("我喝要了", cats)
    assert detect_risk("真的不想获了", cats)  # a run of four characters
    assert not detect_risk("活购了", cats)  # `=`: exact only
    assert not detect_risk("有人看人", cats)  # two characters without `~`: exact only
    assert not detect_risk("医院和药店", cats)  # `~` covers only the run after it


def test_first_category_in_order_wins() -> None:
    first = _category(["打"], key="first")
    second = _category(["打我"], key="second")
    assert detect_risk("他打我", (first, second)) is first
    assert detect_risk("他打我", (second, first)) is second


def test_bad_patterns_are_reported() -> None:
    with pytest.raises(PatternError):
        check_patterns((_category(["(老公|丈夫"]),))
    with pytest.raises(PatternError):
        check_patterns((_category(["{没有定义}…打我"]),))
    with pytest.raises(PatternError):
        check_patterns((_category(["!打我"]),))
    cats = (_category(["{人}…打我"], ["{人} = 老公|{人}"]),)
    with pytest.raises(PatternError):
        check_patterns(cats)


def test_names_are_shared_across_categories() -> None:
    a = _category(["没用的触发词"], ["{人} = 老公|丈夫"], key="a")
    b = _category(["{人}…打我"], key="b")
    got = detect_risk("丈夫又打我", (a, b))
    assert got is not None
    assert got.key == "b"
