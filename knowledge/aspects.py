"""What a message asks about (its aspect) and who is asking (the asker's role).

An entry answers one aspect for one side: 「工伤赔多少钱」 is not 「工伤去哪认定」, and the shop owner
who sold expired food is not the consumer who bought it. Both are read off normalised text by
cue words; an entry's aspects and roles are those of its phrasings (see `entry_profile`).

Aspects: cost (how much), where (where / which office), duration (how long / deadline), liable
(who pays / who is responsible), can (may I / is it legal), how (what to do / procedure).
Roles come in opposed pairs: worker ↔ employer, consumer ↔ seller, lender ↔ borrower,
landlord ↔ tenant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

__all__ = ["ASPECTS", "OPPOSITE", "ROLES", "aspects", "entry_profile", "roles"]

ASPECTS: Final[Mapping[str, tuple[str, ...]]] = {
    "cost": ("多少钱", "赔多少", "给多少", "要多少", "费用", "收费", "标准", "赔偿金", "补偿多少"),
    "where": ("去哪办", "去哪", "找谁", "哪里告", "哪个部门", "找哪", "在哪", "打什么电话"),
    "duration": ("多久", "期限", "时效", "几年", "几个月", "几天", "多长时间"),
    "liable": ("谁负责", "谁赔", "谁承担", "谁来赔", "该谁", "谁出", "谁管", "责任", "连带"),
    "can": ("能不能", "可不可以", "可以吗", "能否", "是否可以", "合法", "违法", "犯法", "算不算",
            "有没有权", "有权", "能要回", "会不会坐牢", "判刑"),
    "how": ("怎么办", "怎么处理", "怎么弄", "如何", "手续", "流程", "程序", "要什么材料"),
}  # fmt: skip

ROLES: Final[Mapping[str, tuple[str, ...]]] = {
    "worker": ("拖欠工资", "欠我工资", "不给工资", "工钱", "我打工", "我在工地", "被辞退", "被开除",
               "老板不给", "老板拖", "公司不给我", "单位不给我", "我上班", "工伤"),
    "employer": ("我是老板", "我雇", "我请的工人", "我招的", "我的员工", "员工要求", "工人要我",
                 "我公司员工", "我开的厂", "雇的人"),
    "consumer": ("我买", "买到", "买了", "商家不", "卖家不", "店家不", "退货", "假货", "消费者"),
    "seller": ("我开店", "我开了个店", "我是卖", "我卖的", "我的店", "我店里", "顾客", "买家要",
               "职业打假", "被人举报", "店主"),
    "lender": ("借给", "借钱给", "欠我", "不还我", "我借出", "不还钱", "赖账", "借条"),
    "borrower": ("我借了", "我欠", "我向", "催我还", "还不上", "还不起", "我贷款", "催收"),
    "landlord": ("租给", "我的房子租", "租客", "房客", "不交房租"),
    "tenant": ("我租的", "我租了", "房东", "押金不退"),
}  # fmt: skip

OPPOSITE: Final[Mapping[str, str]] = {
    "worker": "employer", "employer": "worker", "consumer": "seller", "seller": "consumer",
    "lender": "borrower", "borrower": "lender", "landlord": "tenant", "tenant": "landlord",
}  # fmt: skip


def aspects(text: str) -> frozenset[str]:
    """Aspects a normalised text asks about."""
    return frozenset(k for k, cues in ASPECTS.items() if any(c in text for c in cues))


def roles(text: str) -> frozenset[str]:
    """Roles the asker of a normalised text speaks from (a side of a pair, or both)."""
    return frozenset(k for k, cues in ROLES.items() if any(c in text for c in cues))


def entry_profile(phrasings: Sequence[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(aspects, roles) of an entry: its question's, plus those in at least a third of phrasings."""
    if not phrasings:
        return frozenset(), frozenset()
    a_counts: dict[str, int] = {}
    r_counts: dict[str, int] = {}
    for p in phrasings:
        for a in aspects(p):
            a_counts[a] = a_counts.get(a, 0) + 1
        for r in roles(p):
            r_counts[r] = r_counts.get(r, 0) + 1
    need = max(2, len(phrasings) // 3)
    asp = aspects(phrasings[0]) | frozenset(a for a, c in a_counts.items() if c >= need)
    rol = roles(phrasings[0]) | frozenset(r for r, c in r_counts.items() if c >= need)
    # a side only when the entry does not speak for both sides
    rol = frozenset(r for r in rol if OPPOSITE[r] not in rol)
    return asp, rol
