"""Use cases of the consultation service: the conversation, escalations, campaigns, drafts and
reports. Imports `knowledge` and `storage`, never Telegram or any other channel."""
