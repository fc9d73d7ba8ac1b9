"""Persistence: SQLModel tables, engines and sessions, repositories. No Telegram imports."""
