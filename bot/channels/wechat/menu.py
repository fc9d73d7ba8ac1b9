"""The account's custom menu (咨询 / 普法 / 找法律顾问) and what each click means."""

from __future__ import annotations

from typing import Any, Final

from bot import texts

__all__ = ["ADVISOR", "CONSULT", "LEARN", "custom_menu"]

CONSULT: Final = "LAWBOT_CONSULT"  # how to ask (the service's /help)
LEARN: Final = "LAWBOT_LEARN"  # the topics to read about (the service's /topics)
ADVISOR: Final = "LAWBOT_ADVISOR"  # pass the villager to the advisor (as typing 找法律顾问)


def custom_menu() -> dict[str, Any]:
    """Return the `menu/create` body: three click buttons."""
    return {
        "button": [
            {"type": "click", "name": texts.WECHAT_MENU_CONSULT, "key": CONSULT},
            {"type": "click", "name": texts.WECHAT_MENU_LEARN, "key": LEARN},
            {"type": "click", "name": texts.WECHAT_MENU_ADVISOR, "key": ADVISOR},
        ]
    }
