"""`python -m bot.cli`: the same as the `lawbot` command."""

from bot.cli.main import main

main()
