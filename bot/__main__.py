"""`python -m bot` / `newsbot`: run the bot (default) or check the feeds (`check-feeds`).

Exit codes: 0 stopped cleanly (check-feeds: every feed worked), 1 check-feeds: a feed
failed, 2 bad settings.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import sys
from pathlib import Path

from dotenv import load_dotenv

from bot.config import ConfigError, load_settings
from bot.logs import setup_logging

EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130

_EXIT_CODES = """exit codes:
  0  the bot stopped cleanly; check-feeds: every feed worked
  1  check-feeds: at least one feed failed (fetch or parse error)
  2  configuration error (one line on stderr names the setting)"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="newsbot",
        description="Regional economy news bot for Telegram. Without a command it runs the bot.",
        epilog=_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "run",
        help="run the bot (the default)",
        description="Run the bot: poll feeds, deliver articles, answer readers.",
    )
    check = commands.add_parser(
        "check-feeds",
        help="fetch every feed of FEEDS_FILE once and print its items with their topics",
        description=(
            "Fetch every feed of FEEDS_FILE once, classify the items and print each feed's "
            "status and every item (old ones too) with its topics. Touches neither Telegram "
            "nor the database; BOT_TOKEN is not needed."
        ),
        epilog=(
            "exit codes:\n"
            "  0  every feed was fetched and parsed\n"
            "  1  at least one feed failed (listed with its error)\n"
            "  2  configuration error (one line on stderr names the setting)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "--json",
        action="store_true",
        help=(
            'one JSON object a line: {"feed", "title", "link", "published", "topics"} per '
            'item, {"feed", "error"} per failed feed'
        ),
    )
    args = parser.parse_args(argv)
    if args.command is None:
        args.command = "run"
    return args


def run(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # `.env` of the working directory; real environment variables win over it.
    load_dotenv(Path.cwd() / ".env", override=False)
    try:
        if args.command == "check-feeds":
            return _check_feeds(as_json=args.json)
        settings = load_settings(os.environ)
        setup_logging(settings.log_level, (settings.bot_token,), settings.log_format)
        from bot.app import main  # after settings: a bad setting needs none of the heavy imports

        asyncio.run(main(settings))
    except ConfigError as error:
        print(f"newsbot: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        if args.command == "check-feeds":
            return EXIT_INTERRUPTED
    return 0


def _check_feeds(*, as_json: bool) -> int:
    settings = load_settings(os.environ, require_token=False)
    setup_logging(settings.log_level, (settings.bot_token,), settings.log_format)
    # The report is the output here; pymorphy3's "Loading dictionaries" lines are noise.
    logging.getLogger("pymorphy3").setLevel(max(logging.WARNING, settings.log_level_number))
    from bot.feeds.check import run_check

    out = sys.stdout
    if isinstance(out, io.TextIOWrapper):
        # JSON lines are UTF-8 whatever the locale; a human's odd terminal gets "?" for
        # what it cannot show rather than a UnicodeEncodeError half-way through.
        out.reconfigure(**({"encoding": "utf-8"} if as_json else {"errors": "replace"}))
    try:
        return asyncio.run(run_check(settings, out, as_json=as_json))
    except BrokenPipeError:
        # `newsbot check-feeds | head`: the reader left; say nothing more, and keep Python
        # from complaining when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(run())
