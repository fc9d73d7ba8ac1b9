"""The knowledge base and the matcher. Pure: no Telegram, no database, no config imports.

Data comes in as arguments; the only file I/O is in `loader` and `laws`.
"""
