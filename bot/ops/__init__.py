"""Operations tooling: benchmarks, load scenarios, the Telegram server emulator and demo data."""
