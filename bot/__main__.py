"""`python -m bot` / `newsbot`: run the bot. Exit codes: 0 stopped cleanly, 2 bad settings."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from dotenv import load_dotenv

from bot.config import ConfigError, load_settings
from bot.logs import setup_logging

EXIT_CONFIG = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="newsbot", description="Regional economy news bot for Telegram."
    )
    parser.add_argument("command", nargs="?", default="run", choices=["run"], help="what to do")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> int:
    parse_args(argv)
    # `.env` of the working directory; real environment variables win over it.
    load_dotenv(Path.cwd() / ".env", override=False)
    try:
        settings = load_settings(os.environ)
        setup_logging(settings.log_level, secrets=(settings.bot_token,))
        from bot.app import main  # after settings: a bad setting needs none of the heavy imports

        asyncio.run(main(settings))
    except ConfigError as error:
        print(f"newsbot: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(run())
