"""Channel adapters (Telegram, console): translate messages in and replies out, call the services;
no matching, no SQL."""
