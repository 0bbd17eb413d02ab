"""envkey-hook: purge stale native-extension builds before `uv sync` reuses them."""

__version__ = "0.1.0"
