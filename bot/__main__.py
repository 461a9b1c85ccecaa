"""`python -m bot` / `newsbot`: run the bot (default), check the feeds (`check-feeds`) or
measure the taxonomy on labelled articles (`eval-topics`).

Exit codes: 0 stopped cleanly (check-feeds: every feed worked; eval-topics: every file
meets the bar), 1 check-feeds: a feed failed; eval-topics: a file is below the bar,
2 bad settings or an unreadable labelled file.
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

from bot.config import ConfigError, database_url, load_settings
from bot.leadership import LeadershipLost
from bot.logs import setup_logging

EXIT_CONFIG = 2
EXIT_LEADERSHIP_LOST = 3
EXIT_INTERRUPTED = 130

_EXIT_CODES = """exit codes:
  0  the bot stopped cleanly; check-feeds: every feed worked
  1  check-feeds: at least one feed failed (fetch or parse error)
  2  configuration error (one line on stderr names the setting)
  3  PostgreSQL replicas: this copy lost the leader lock and stopped; start it again"""


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
    evaluate = commands.add_parser(
        "eval-topics",
        help="measure TOPICS_FILE on labelled JSONL files (SPEC 5.3)",
        description=(
            "Classify every article of the labelled files with TOPICS_FILE and print recall "
            "of must topics, the rate of must_not topics assigned, precision and recall per "
            "topic, and every miss and false topic with the words or rule behind it. "
            "Needs neither BOT_TOKEN nor the network."
        ),
        epilog=(
            "exit codes:\n"
            "  0  every file meets the bar\n"
            "  1  at least one file is below the bar\n"
            "  2  configuration error, or a labelled file that cannot be read"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    evaluate.add_argument(
        "--min-recall", type=float, default=0.95, help="bar for recall (SPEC 5.3: 0.95)"
    )
    evaluate.add_argument(
        "--max-false",
        type=float,
        default=0.02,
        help="bar for the share of must_not topics assigned (SPEC 5.3: 0.02)",
    )
    migrate = commands.add_parser(
        "migrate-db",
        help="copy the SQLite database (DATABASE_PATH) into an empty PostgreSQL database",
        description=(
            "Copy every table of the SQLite database at DATABASE_PATH into an empty "
            "PostgreSQL database, then compare the row counts per table. Stop the bot "
            "first; afterwards set DATABASE_URL to the same URL and start it again."
        ),
        epilog=(
            "exit codes:\n"
            "  0  copied, and every table has as many rows on both sides\n"
            "  1  refused (the target is not empty) or the counts differ\n"
            "  2  configuration error: a bad URL, no SQLite database, a bot still running"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    migrate.add_argument(
        "--to", required=True, metavar="URL", help="postgresql://user:password@host:port/dbname"
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
        if args.command == "eval-topics":
            return _eval_topics(args.files, args.min_recall, args.max_false)
        if args.command == "migrate-db":
            return _migrate_db(args.to)
        settings = load_settings(os.environ)
        setup_logging(settings.log_level, (settings.bot_token,), settings.log_format)
        from bot.app import main  # after settings: a bad setting needs none of the heavy imports

        asyncio.run(main(settings))
    except ConfigError as error:
        print(f"newsbot: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except LeadershipLost as error:
        print(f"newsbot: {error}", file=sys.stderr)
        return EXIT_LEADERSHIP_LOST
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


def _eval_topics(files: list[Path], min_recall: float, max_false: float) -> int:
    settings = load_settings(os.environ, require_token=False)
    logging.getLogger("pymorphy3").setLevel(logging.WARNING)
    from bot.topics.evaluate import LabelledFileError, evaluate, format_report, load_labelled, total
    from bot.topics.matcher import Matcher
    from bot.topics.normalize import Normalizer
    from bot.topics.taxonomy import TaxonomyError, load_taxonomy

    try:
        taxonomy = load_taxonomy(settings.topics_file)
    except TaxonomyError as error:
        raise ConfigError("TOPICS_FILE", str(error)) from None
    try:
        labelled = [(path, load_labelled(path, taxonomy.ids)) for path in files]
    except LabelledFileError as error:
        print(f"newsbot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    matcher = Matcher.from_taxonomy(taxonomy, Normalizer())
    reports = [evaluate(str(path), matcher, articles) for path, articles in labelled]
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper):
        out.reconfigure(errors="replace")
    print(f"taxonomy: {settings.topics_file}")
    for report in reports:
        print("\n".join(format_report(report, min_recall, max_false)))
    if len(reports) > 1:
        summary = total(reports)
        print(
            f"all files: recall {summary.recall:.3f} ({summary.found}/{summary.must}), "
            f"false topics {summary.false_rate:.2%} ({summary.false}/{summary.must_not})"
        )
    return 0 if all(r.meets(min_recall, max_false) for r in reports) else 1


def _migrate_db(url: str) -> int:
    settings = load_settings(os.environ, require_token=False)
    setup_logging(settings.log_level, (settings.bot_token,), settings.log_format)
    database_url(url, "--to")
    if not settings.database_path.is_file():
        raise ConfigError("DATABASE_PATH", f"no SQLite database at {str(settings.database_path)!r}")
    from bot.migrate_db import migrate_database

    return asyncio.run(migrate_database(settings.database_path, url, sys.stdout))


if __name__ == "__main__":
    sys.exit(run())
