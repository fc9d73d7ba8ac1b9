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
    assert prepare("渠打我 水渠 渠道") == "他打我/水渠/渠道"
    assert prepare("猪崽不见了 崽打我") == "猪崽不见了/儿子打我"
    assert prepare("") == ""


def test_clauses_stay_apart_but_spaced_out_typing_is_joined(kb: KnowledgeBase) -> None:
    assert prepare("围着打 手机快没电了") == "围着打/手机快没电了"
    assert prepare("我 不 想 活 了") == "我不想活了"
    # 打 + 手机 across a space is not 打手机 (a phone call), so the beating still fires
    assert detect_risk("我在桥下被几个人围着打 手机快没电了", kb.triage) is not None


# Written for these tests in other words than the labelled sets: each names a kind of message the
# round-1 rules missed on unseen text (indirect intent, neglect, luring, in-law threats...).
UNSEEN_KINDS: dict[str, list[str]] = {
    "self_harm": [
        "我想去找我死去的老伴 这世上没什么好留恋的了",  # joining the dead
        "请问安眠药一次吃多少片会死",  # a lethal dose
        "我男人一早上拿着根绳子进了后山 手机关机了",  # a rope taken away
        "我在楼顶上坐了一个钟头了 下面好多车",
        "我觉得我是家里的负担 我走了大家都轻松",
        "妈 我对不起你 下辈子再孝顺你",
        "我准备在镇政府门口浇汽油把自己点了",
        "我都想好了 今晚就去水库 别找我",
    ],
    "fire": [
        "失伙了 快来救火",  # 伙 = 火
        "有人放火 烧的是村里的仓库",
        "火还没灭 烟越来越大",
        "烧田埂的火烧到山上去了 控制不住了",
        "后山烧了两天了 火越来越大",
        "锅里的油着了 火窜到抽油烟机上了",
    ],
    "child_danger": [
        "邻居把他三岁的儿子一个人关在屋里 自己出去打牌两天没回",  # neglect
        "有个陌生男的开着面包车在学校门口 拿零食叫小孩上车",  # luring
        "我女儿十二岁 有个网友天天叫她发照片 今天约她去县城见面",
        "有个小女孩一个人在高速公路边上走 哭着找妈妈",
        "我侄子掉进村口的废井里了",
        "小孩被狗咬了 血止不住 狗还在旁边叫",
        "继父趁我上夜班欺负我女儿 她才十三岁 他今晚还在家",
    ],
    "domestic_violence": [
        "老公拿烟头烫我 今天又烫了",  # burns
        "老公把我绑在椅子上打了一晚上",  # tying up
        "他说要毁我的容 还把我头发剪了",
        "我公公半夜老来推我的房门 今天还想进来",  # an in-law at night
        "我老公喝多了 在家里把我的头往地上砸",
        "他昨天把我牙打掉了一颗 今天又喝酒了",  # a knocked-out tooth now
    ],
    "violence": [
        "有人往我家窗户上扔石头 玻璃都碎了 还在扔",  # stones
        "对门往我家井里下了药 还说下回就毒死我全家",  # poisoning with a threat
        "那伙人还在外面转 说见到我就打 我不敢出门",
        "我被人从背后敲了一棍 头好晕 那个人跑了",
        "有个人拿着一根钢管站在我店门口 说要砸店",
    ],
    "ongoing_crime": [
        "有两个人说是燃气公司的 进屋就翻抽屉 我妈一个人在家",  # impostors at the door
        "有人打电话说是银行的 叫我把验证码报给他 我已经报了",  # a code handed over
        "我家的羊刚才被人用车拉走了 往国道那边开了",  # livestock just taken
        "我刚交了五千手续费 他又说要交工本费",
        "我奶奶刚才被两个人骗走了金项链 往菜市场那边走了",
    ],
}

LOOK_ALIKES = [
    "打死我也不签这个协议 他们能强拆吗",  # hyperbole
    "我气得想死 老板又不发工资",
    "我们村的炭窑冒烟 能举报吗",  # everyday smoke
    "烧烤摊的油烟好大 找谁管",
    "煤气灶点不着火 找谁修",
    "如果有人拿刀到我家闹 我能不能打他",  # hypothetical
    "要是有人撬我家的门 我打伤他犯法吗",
    "去年山上的树被人偷砍了 能要赔偿吗",  # the past
    "伢子十年前走丢了 现在还没找到 可以去哪里采血",  # 还 after a long-past event
    "上个月家里进了小偷 到现在也没破案",
    "电视上说有个小孩被拐了 现在找到了 那个人判了几年",  # a story seen on TV
    "我老公从来没有打过我 就是不给钱",  # negation
    "隔壁天天喝醉了骂人 也没打人 村里能管吗",
    "他们一家人经常吵架 打打闹闹 我能去劝吗",
    "我婆婆总说不想活了 她就是嘴上说说 赡养费怎么分",
    "老公喝醉酒砸了电视 第二天道歉了 这算家暴吗",
    "孩子走丢了被好心人送回来了 我想送面锦旗",
    "我爸被人打了 派出所调解了 对方赔了五千 他现在还在头痛 能再要吗",
    "小偷被我们抓住了 打了他几下 他说要告我们",
    "孩子失踪多久可以报案",  # terse legal topics
    "传销组织怎么举报",
    "持刀伤人判几年",
    "打110要钱吗",
]


@pytest.mark.parametrize(("key", "text"), [(k, t) for k, ts in UNSEEN_KINDS.items() for t in ts])
def test_kinds_missed_on_unseen_text_now_fire(kb: KnowledgeBase, key: str, text: str) -> None:
    got = detect_risk(text, kb.triage)
    assert got is not None, (key, text)


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_do_not_fire(kb: KnowledgeBase, text: str) -> None:
    assert detect_risk(text, kb.triage) is None, explain(text, kb.triage)


def test_a_long_past_or_hypothetical_frame_still_yields_to_a_present_danger(
    kb: KnowledgeBase,
) -> None:
    assert detect_risk("十年前他就打过我 今天又拿刀追我", kb.triage) is not None
    assert detect_risk("如果他再来我就报警 他现在就在门口拿着刀", kb.triage) is not None
    assert detect_risk("电视上看到过这种事 刚才我家孩子就不见了", kb.triage) is not None


def test_a_repeated_name_is_looked_up_once_and_agrees_with_a_fresh_run(kb: KnowledgeBase) -> None:
    texts = [t for ts in UNSEEN_KINDS.values() for t in ts] + LOOK_ALIKES
    first = [explain(t, kb.triage) for t in texts]
    assert [explain(t, kb.triage) for t in texts] == first


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


def test_homophones_in_the_act_not_in_the_context_clauses() -> None:
    cats = (_category(["不想活了 & 今天晚上", "打我 & ~今晚", "喝农药 & !判几年"]),)
    assert detect_risk("不想获了 今天晚上", cats)  # the act (first clause) may hold a homophone
    assert not detect_risk("不想活了 金天晚上", cats)  # a context clause after `&` is exact
    assert detect_risk("他打我 金晚", cats)  # unless it asks for homophones with `~`
    assert not detect_risk("喝农药判几年", cats)
    assert detect_risk("喝农药盼几年", cats)  # a `!` clause is exact: a near miss does not veto


def test_a_clause_boundary_stops_a_literal_run_but_not_a_gap() -> None:
    cats = (_category(["打手机", "老公…打我"]),)
    assert not detect_risk("他们围着打 手机没电了", cats)
    assert detect_risk("老公 昨晚 又打我", cats)
