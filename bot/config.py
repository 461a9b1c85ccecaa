"""Typed settings read once from the environment (and `.env`), validated at start-up.

A bad setting is a `ConfigError` naming the variable and the fix; `bot.__main__` turns it
into one line on stderr and exit code 2 (SPEC 2), so no traceback ever reaches an operator.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.logs import LOG_FORMATS

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_FEEDS_FILE = DATA_DIR / "feeds.toml"
DEFAULT_TOPICS_FILE = DATA_DIR / "topics.toml"

# BotFather tokens are "<bot id>:<35 url-safe characters>"; accept a little slack on length.
_TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{30,64}$")
_CHANNEL_RE = re.compile(r"^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what setWebhook's secret_token allows
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it and says how to fix it."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


@dataclass(frozen=True)
class Settings:
    bot_token: str = field(repr=False)
    telegram_api_base: str = "https://api.telegram.org"
    database_path: Path = Path("data/newsbot.sqlite3")
    # postgresql://...: the shared store (SPEC 8c); None: SQLite at database_path.
    database_url: str | None = field(default=None, repr=False)
    admin_ids: frozenset[int] = frozenset()
    channel_ids: tuple[str, ...] = ()
    feeds_file: Path = DEFAULT_FEEDS_FILE
    topics_file: Path = DEFAULT_TOPICS_FILE
    poll_interval_seconds: int = 300
    send_rate_per_second: float = 25.0
    max_item_age_hours: int = 48
    timezone: str = "Europe/Moscow"
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one JSON object a line
    metrics_port: int | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    web_host: str = "127.0.0.1"
    web_port: int = 8080

    @property
    def log_level_number(self) -> int:
        return logging.getLevelName(self.log_level)


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"expected a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low:g} and {high:g}, got {value:g}")
    return value


def _url(env: Mapping[str, str], name: str) -> str | None:
    raw = _text(env, name)
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(name, f"expected an http(s) URL such as https://example.org, got {raw!r}")
    return raw.rstrip("/")


def database_url(raw: str | None, name: str = "DATABASE_URL") -> str | None:
    """A PostgreSQL URL, checked before any connection is tried. The message of a bad
    one never repeats the password."""
    if raw is None:
        return None
    example = "postgresql://user:password@host:5432/dbname"
    parts = urlsplit(raw)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    database = parts.path.lstrip("/")
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(name, f"expected a URL such as {example}")
    if not parts.hostname or not port_ok or not database or "/" in database:
        raise ConfigError(name, f"expected host, port and database name as in {example}")
    return raw


def _file(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = _text(env, name)
    path = Path(raw) if raw else default
    if not path.is_file():
        raise ConfigError(name, f"file {str(path)!r} does not exist")
    return path


def _admin_ids(env: Mapping[str, str]) -> frozenset[int]:
    raw = _text(env, "ADMIN_IDS") or ""
    ids = set()
    for part in filter(None, (p.strip() for p in raw.split(","))):
        if not (part.isascii() and part.isdecimal()):
            raise ConfigError(
                "ADMIN_IDS", f"expected comma-separated numeric Telegram user ids, got {part!r}"
            )
        ids.add(int(part))
    return frozenset(ids)


def _channel_ids(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = _text(env, "CHANNEL_IDS") or ""
    channels = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        if not _CHANNEL_RE.match(part):
            raise ConfigError(
                "CHANNEL_IDS",
                f"expected comma-separated chat ids (-100...) or @usernames, got {part!r}",
            )
        channels.append(part)
    return tuple(channels)


def load_settings(env: Mapping[str, str], *, require_token: bool = True) -> Settings:
    """Build `Settings` from a mapping of environment variables, or raise `ConfigError`.

    `require_token=False` is for commands that never talk to Telegram (`check-feeds`): a
    missing token is then an empty string, but a malformed one is still an error.
    """
    token = _text(env, "BOT_TOKEN")
    if token is None:
        if require_token:
            raise ConfigError(
                "BOT_TOKEN", "is not set; get a token from @BotFather and put it in .env"
            )
        token = ""
    elif not _TOKEN_RE.match(token):
        raise ConfigError(
            "BOT_TOKEN",
            "is malformed; expected '<digits>:<35 characters>' as @BotFather gives it",
        )

    tz = _text(env, "TIMEZONE") or "Europe/Moscow"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            "TIMEZONE", f"unknown time zone {tz!r}; use Area/City, e.g. Europe/Moscow"
        ) from None

    log_level = (_text(env, "LOG_LEVEL") or "INFO").upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigError(
            "LOG_LEVEL", f"expected one of {', '.join(_LOG_LEVELS)}, got {log_level!r}"
        )

    log_format = (_text(env, "LOG_FORMAT") or "text").lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError("LOG_FORMAT", f"expected text or json, got {log_format!r}")

    webhook_url = _url(env, "WEBHOOK_URL")
    webhook_secret = _text(env, "WEBHOOK_SECRET")
    if webhook_secret and not _SECRET_RE.fullmatch(webhook_secret):
        raise ConfigError("WEBHOOK_SECRET", "may hold only A-Z, a-z, 0-9, _ and - (1-256 chars)")
    if webhook_url and not webhook_secret:
        # Without it anyone who finds the URL can post forged updates (SPEC 3).
        raise ConfigError(
            "WEBHOOK_SECRET",
            "is required when WEBHOOK_URL is set; generate one, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
        )

    metrics_raw = _text(env, "METRICS_PORT")
    metrics_port = _int(env, "METRICS_PORT", 0, 1, 65_535) if metrics_raw else None
    web_port = _int(env, "WEB_PORT", 8080, 1, 65_535)
    if webhook_url and metrics_port == web_port:
        raise ConfigError("METRICS_PORT", f"must differ from WEB_PORT ({web_port}) in webhook mode")
    return Settings(
        bot_token=token,
        telegram_api_base=_url(env, "TELEGRAM_API_BASE") or "https://api.telegram.org",
        database_path=Path(_text(env, "DATABASE_PATH") or "data/newsbot.sqlite3"),
        database_url=database_url(_text(env, "DATABASE_URL")),
        admin_ids=_admin_ids(env),
        channel_ids=_channel_ids(env),
        feeds_file=_file(env, "FEEDS_FILE", DEFAULT_FEEDS_FILE),
        topics_file=_file(env, "TOPICS_FILE", DEFAULT_TOPICS_FILE),
        poll_interval_seconds=_int(env, "POLL_INTERVAL_SECONDS", 300, 1, 86_400),
        send_rate_per_second=_float(env, "SEND_RATE_PER_SECOND", 25.0, 0.1, 1_000.0),
        max_item_age_hours=_int(env, "MAX_ITEM_AGE_HOURS", 48, 1, 24 * 365),
        timezone=tz,
        log_level=log_level,
        log_format=log_format,
        metrics_port=metrics_port,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        web_host=_text(env, "WEB_HOST") or "127.0.0.1",
        web_port=web_port,
    )
