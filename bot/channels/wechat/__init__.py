"""The WeChat Official Account channel: `/wechat` routes, API client and notifier (docs/wechat.md)."""

from __future__ import annotations

from bot.channels.wechat.app import WechatChannel, build_wechat, build_wechat_app
from bot.channels.wechat.client import WechatClient, WechatError
from bot.channels.wechat.menu import custom_menu
from bot.channels.wechat.notifier import CHANNEL, WechatNotifier

__all__ = [
    "CHANNEL",
    "WechatChannel",
    "WechatClient",
    "WechatError",
    "WechatNotifier",
    "build_wechat",
    "build_wechat_app",
    "custom_menu",
]
