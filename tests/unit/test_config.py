from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

TOKEN = "123456789:AAH-fake-token-for-tests-0123456789ab"


def test_defaults_with_only_a_token():
    settings = load_settings({"BOT_TOKEN": TOKEN})
    assert settings.telegram_api_base == "https://api.telegram.org"
    assert settings.database_path == Path("data/newsbot.sqlite3")
    assert settings.poll_interval_seconds == 300
    assert settings.send_rate_per_second == 25
    assert settings.max_item_age_hours == 48
    assert settings.timezone == "Europe/Moscow"
    assert settings.admin_ids == frozenset()
    assert settings.feeds_file.is_file() and settings.topics_file.is_file()


def test_token_never_in_repr():
    assert TOKEN not in repr(load_settings({"BOT_TOKEN": TOKEN}))


def test_lists_and_numbers_are_parsed():
    settings = load_settings(
        {
            "BOT_TOKEN": TOKEN,
            "ADMIN_IDS": " 1, 22 ,333",
            "CHANNEL_IDS": "-1001234567890,@regional_news",
            "TELEGRAM_API_BASE": "http://127.0.0.1:8081/",
            "SEND_RATE_PER_SECOND": "30",
            "LOG_LEVEL": "debug",
        }
    )
    assert settings.admin_ids == {1, 22, 333}
    assert settings.channel_ids == ("-1001234567890", "@regional_news")
    assert settings.telegram_api_base == "http://127.0.0.1:8081"
    assert settings.send_rate_per_second == 30.0
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "   "}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN"),
        ({"ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
        ({"ADMIN_IDS": "12,²"}, "ADMIN_IDS"),
        ({"CHANNEL_IDS": "news channel"}, "CHANNEL_IDS"),
        ({"TELEGRAM_API_BASE": "ftp://x"}, "TELEGRAM_API_BASE"),
        ({"POLL_INTERVAL_SECONDS": "soon"}, "POLL_INTERVAL_SECONDS"),
        ({"POLL_INTERVAL_SECONDS": "0"}, "POLL_INTERVAL_SECONDS"),
        ({"SEND_RATE_PER_SECOND": "-1"}, "SEND_RATE_PER_SECOND"),
        ({"MAX_ITEM_AGE_HOURS": "1.5"}, "MAX_ITEM_AGE_HOURS"),
        ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"METRICS_PORT": "70000"}, "METRICS_PORT"),
        ({"FEEDS_FILE": "/nonexistent/feeds.toml"}, "FEEDS_FILE"),
        ({"TOPICS_FILE": "/nonexistent/topics.toml"}, "TOPICS_FILE"),
        ({"WEBHOOK_URL": "https://bot.example/hook"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_URL": "bot.example/hook", "WEBHOOK_SECRET": "s"}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": "https://bot.example/hook", "WEBHOOK_SECRET": "a b"}, "WEBHOOK_SECRET"),
        (
            {"WEBHOOK_URL": "https://b.example/", "WEBHOOK_SECRET": "s", "METRICS_PORT": "8080"},
            "METRICS_PORT",
        ),
        ({"WEB_PORT": "0"}, "WEB_PORT"),
    ],
)
def test_bad_setting_names_itself(env, name):
    env = {"BOT_TOKEN": TOKEN, **env} if name != "BOT_TOKEN" else env
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert caught.value.name == name
    assert str(caught.value).startswith(f"{name}: ")


def test_token_optional_when_not_required():
    """`check-feeds` never talks to Telegram, so it runs without BOT_TOKEN."""
    settings = load_settings({}, require_token=False)
    assert settings.bot_token == ""
    assert settings.feeds_file.is_file()
    assert load_settings({"BOT_TOKEN": TOKEN}, require_token=False).bot_token == TOKEN


def test_malformed_token_is_an_error_even_when_not_required():
    with pytest.raises(ConfigError) as caught:
        load_settings({"BOT_TOKEN": "not-a-token"}, require_token=False)
    assert caught.value.name == "BOT_TOKEN"


def test_webhook_mode_settings():
    settings = load_settings(
        {
            "BOT_TOKEN": TOKEN,
            "WEBHOOK_URL": "https://bot.example/tg/hook",
            "WEBHOOK_SECRET": "Abc_123-xyz",
            "WEB_HOST": "0.0.0.0",
            "WEB_PORT": "8443",
            "METRICS_PORT": "9100",
        }
    )
    assert settings.webhook_url == "https://bot.example/tg/hook"
    assert settings.webhook_secret == "Abc_123-xyz"
    assert (settings.web_host, settings.web_port, settings.metrics_port) == ("0.0.0.0", 8443, 9100)
    assert "Abc_123" not in repr(settings)
    assert load_settings({"BOT_TOKEN": TOKEN}).webhook_url is None  # long polling by default


def test_database_url_selects_postgresql_and_stays_out_of_repr():
    url = "postgresql://newsbot:s3cret@db.example:5432/newsbot"
    settings = load_settings({"BOT_TOKEN": TOKEN, "DATABASE_URL": url})
    assert settings.database_url == url
    assert "s3cret" not in repr(settings)
    assert load_settings({"BOT_TOKEN": TOKEN, "DATABASE_URL": " "}).database_url is None


@pytest.mark.parametrize(
    "url",
    [
        "mysql://newsbot:s3cret@db/newsbot",
        "postgresql://newsbot:s3cret@/newsbot",
        "postgresql://newsbot:s3cret@db:notaport/newsbot",
        "postgresql://newsbot:s3cret@db:5432/",
        "postgresql://newsbot:s3cret@db:5432/a/b",
        "db.example:5432/newsbot",
    ],
)
def test_malformed_database_url_is_refused_without_the_password(url):
    with pytest.raises(ConfigError) as refused:
        load_settings({"BOT_TOKEN": TOKEN, "DATABASE_URL": url})
    assert refused.value.name == "DATABASE_URL"
    assert "s3cret" not in str(refused.value)
