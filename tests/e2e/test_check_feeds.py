"""`python -m bot check-feeds [--json]` (SPEC 2): the real CLI against a local feed server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime
from pathlib import Path

import pytest
from feed_server import FeedServer, read_fixture
from harness import CONFIG_VARS_TO_DROP, ENV_PREFIXES_TO_DROP

KOI8R = "application/rss+xml; charset=koi8-r"
HTML = "text/html; charset=utf-8"


def cli_env(feeds_file: Path, tmp_path: Path) -> dict[str, str]:
    """The developer's environment without any bot setting: no BOT_TOKEN at all."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(ENV_PREFIXES_TO_DROP) and key not in CONFIG_VARS_TO_DROP
    }
    env.update(
        FEEDS_FILE=str(feeds_file),
        DATABASE_PATH=str(tmp_path / "must-not-exist" / "newsbot.sqlite3"),
        TIMEZONE="Europe/Moscow",
        PYTHONUNBUFFERED="1",
    )
    return env


async def run_cli(tmp_path: Path, feeds_toml: str, *args: str) -> tuple[int, str, str]:
    feeds_file = tmp_path / "feeds.toml"
    feeds_file.write_text(feeds_toml, encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "check-feeds",
        *args,
        cwd=tmp_path,
        env=cli_env(feeds_file, tmp_path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        stdout, stderr = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, stdout.decode("utf-8"), stderr.decode("utf-8")


def feeds_toml(feeds: dict[str, str]) -> str:
    return "".join(f'[[feeds]]\nname = "{name}"\nurl = "{url}"\n\n' for name, url in feeds.items())


@pytest.fixture
async def server():
    async with FeedServer() as feeds:
        feeds.serve("/cp1251.xml", read_fixture("rss-cp1251.xml"), content_type="text/xml")
        feeds.serve("/koi8r.xml", read_fixture("rss-koi8r-nodecl.xml"), content_type=KOI8R)
        feeds.serve("/atom.xml", read_fixture("atom.xml"), content_type="application/atom+xml")
        feeds.serve("/no-guid.xml", read_fixture("rss-no-guid.xml"))
        feeds.serve("/broken.xml", b"oops", status=500, content_type="text/plain")
        feeds.serve("/home.html", read_fixture("not-a-feed.html"), content_type=HTML)
        yield feeds


async def test_json_lists_every_item_with_topics_and_every_failed_feed(server, tmp_path):
    urls = {
        name: server.url(path)
        for name, path in [
            ("cp1251", "/cp1251.xml"),
            ("koi8r", "/koi8r.xml"),
            ("atom", "/atom.xml"),
            ("noguid", "/no-guid.xml"),
            ("broken", "/broken.xml"),
            ("homepage", "/home.html"),
        ]
    }
    code, stdout, stderr = await run_cli(tmp_path, feeds_toml(urls), "--json")

    assert code == 1, stderr
    assert "Traceback" not in stderr
    rows = [json.loads(line) for line in stdout.splitlines()]
    by_feed: dict[str, list[dict]] = {}
    for row in rows:
        by_feed.setdefault(row["feed"], []).append(row)

    # Failed feeds: one line each, with the reason.
    assert by_feed[urls["broken"]] == [{"feed": urls["broken"], "error": "HTTP 500"}]
    [homepage] = by_feed[urls["homepage"]]
    assert set(homepage) == {"feed", "error"}
    assert "not a feed" in homepage["error"]

    # Every item listed (old ones too), each with exactly the documented keys.
    assert len(by_feed[urls["cp1251"]]) == 10
    assert len(by_feed[urls["koi8r"]]) == 8
    assert len(by_feed[urls["atom"]]) == 8
    items = [row for row in rows if "error" not in row]
    assert all(set(row) == {"feed", "title", "link", "published", "topics"} for row in items)

    titles = {row["title"]: row for row in items}
    # windows-1251 declared in the XML, and KOI8-R named only in the HTTP header.
    china = titles["Поднебесная присматривается к нижегородским станкам"]
    assert "china" in china["topics"]
    assert china["link"] == "http://nn-delo.example/news/7705.html"
    assert china["published"] == "2025-10-20T07:10:00+00:00"
    pharma = titles["Индийские фармкомпании рассматривают производство в Дзержинске"]
    assert {"india", "pharma"} <= set(pharma["topics"])
    assert "Навигация на Волге: перевозки грузов выросли на 10%" in titles
    chengdu = titles["New container train links Nizhny Novgorod and Chengdu"]
    assert "china" in chengdu["topics"]

    for row in items:
        assert "Ð" not in row["title"] and "\ufffd" not in row["title"], row["title"]
        assert isinstance(row["topics"], list)
        if row["published"] is not None:
            assert datetime.fromisoformat(row["published"]).utcoffset() is not None
    undated = [row for row in by_feed[urls["noguid"]] if row["published"] is None]
    assert undated, "rss-no-guid.xml has items without pubDate"

    # Nothing touched the database or Telegram.
    assert not (tmp_path / "must-not-exist").exists()
    assert not (tmp_path / "data").exists()


async def test_human_output_for_good_feeds_exits_0(server, tmp_path):
    feeds = {"nn-delo": server.url("/cp1251.xml"), "volga": server.url("/koi8r.xml")}
    code, stdout, stderr = await run_cli(tmp_path, feeds_toml(feeds))

    assert code == 0, stderr
    assert "Traceback" not in stderr
    lines = stdout.splitlines()
    assert f"nn-delo  {feeds['nn-delo']}" in lines
    assert any(line.startswith("  ok, 10 items") for line in lines)
    assert any(line.startswith("  ok, 8 items") for line in lines)
    # Dates in TIMEZONE (Moscow, UTC+3), then the title, then the topics as hashtags.
    china = next(line for line in lines if "Поднебесная" in line)
    assert china.startswith("  2025-10-20 10:10  Поднебесная присматривается")
    assert "#china" in china
    assert lines[-1] == "2 feeds: 2 ok, 0 failed; 18 items"


async def test_human_output_shows_the_error_of_a_failed_feed(server, tmp_path):
    feeds = {"broken": server.url("/broken.xml"), "atom": server.url("/atom.xml")}
    code, stdout, _ = await run_cli(tmp_path, feeds_toml(feeds))

    assert code == 1
    lines = stdout.splitlines()
    assert lines[:2] == [f"broken  {feeds['broken']}", "  error: HTTP 500"]
    assert lines[-1] == "2 feeds: 1 ok, 1 failed; 8 items"


async def test_bad_feeds_file_is_a_one_line_configuration_error(tmp_path):
    code, stdout, stderr = await run_cli(tmp_path, '[[feeds]]\nurl = "ftp://example.org/rss"\n')

    assert code == 2
    assert stdout == ""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("newsbot: configuration error: FEEDS_FILE: ")
