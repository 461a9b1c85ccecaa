"""One bot per database (SPEC 8b): two senders on one outbox would both send its rows."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class AlreadyRunning(RuntimeError):
    pass


@contextlib.contextmanager
def exclusive(database_path: Path) -> Iterator[Path]:
    """Hold an advisory lock on `<database>.lock` while the bot runs.

    The kernel releases it when the process dies, even by SIGKILL, so a crash never
    leaves a stale lock behind."""
    lock_path = database_path.with_name(database_path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(str(lock_path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield lock_path
    finally:
        os.close(fd)
