"""A throwaway PostgreSQL server for the tests: `initdb` and `pg_ctl` in a temp folder.

The Debian server binaries live in /usr/lib/postgresql/N/bin, outside PATH. `initdb`
refuses to run as root (CI runs as root), so there the folder is handed to the system's
`postgres` user and the binaries run through `runuser`. Durability is switched off
(fsync, full-page writes): the data is thrown away with the folder.

One server per test worker; each test takes a database of its own (`create_database`).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg

# The storage backends (SPEC 8c). Tests that must hold on both take `backend` through
# `pytest.mark.parametrize("backend", BACKENDS, indirect=True)` (the unit tests' `db`
# fixture always does); the others run on SQLite.
BACKENDS = ("sqlite", "postgresql")

SERVER_SETTINGS = (
    "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
    " -c max_connections=200 -c shared_buffers=128MB"
)


class Unavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """The folder of `initdb` and `pg_ctl`: PG_BINDIR, PATH, or Debian's layout."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    raise Unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    def __init__(self, root: Path) -> None:
        self.bindir = find_bindir()
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        self._user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no 'postgres' user") from None
            self._user = "postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            info = pwd.getpwnam(self._user)
            os.chown(self.root, info.pw_uid, info.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 {SERVER_SETTINGS}"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.root / "server.log"), "-w", "start")

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        connection = await asyncpg.connect(self.url())
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.url(name)

    async def terminate_connections(self, url: str, application: str = "%") -> int:
        """Cut connections to a database from the server's side (a network cut): those
        whose application_name is LIKE `application`. Returns how many."""
        database = url.rsplit("/", 1)[1]
        connection = await asyncpg.connect(self.url())
        try:
            rows = await connection.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND application_name LIKE $2 AND pid <> pg_backend_pid()",
                database,
                application,
            )
            return len(rows)
        finally:
            await connection.close()


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """A started server in a folder of its own under the system's temp folder (pytest's
    are private to the current user, and the server may run as another)."""
    root = Path(tempfile.mkdtemp(prefix="newsbot-pg-"))
    try:
        server = PostgresServer(root)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
