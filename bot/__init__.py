"""The bot: channel-agnostic consultation service, Telegram and console adapters, CLI."""
