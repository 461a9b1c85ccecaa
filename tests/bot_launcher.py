"""A pre-imported interpreter that forks the bot for the end-to-end tests.

`python -m bot` spends about 8 s of CPU importing aiogram's types (pydantic builds some
600 models) before it runs a line of ours; the suite starts the bot about 180 times, so
the imports alone would take most of its 15 minutes on two cores. This launcher imports
the bot's modules once per test worker and then, for each start, forks a child that
becomes exactly what `python -m bot ARGS` would be: its own pid, working directory,
environment, argv and stdout/stderr file, and `runpy` runs the `bot` package as
`__main__`. Signals, `kill -9` and exit codes reach the tests as from any child.

Protocol, over a unix socket, one connection per child: the client sends one JSON line
`{"args", "cwd", "env", "log"}`; the launcher answers `{"pid": N}` and, when the child
ends, `{"returncode": N}` (negative: killed by that signal, as in `subprocess`).

`BOT_LAUNCH=exec` in the tests' environment skips all this and execs `python -m bot`.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import traceback

PRELOAD = ("bot.__main__", "bot.app", "aiogram.types", "aiogram.methods")


def _run_child(request: dict, inherited: list) -> None:
    """In the forked child: become `python -m bot ARGS` and never return."""
    code = 1
    try:
        for resource in inherited:  # the launcher's sockets and selector
            resource.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setpgid(0, 0)  # a signal to the test worker's group does not reach the bot
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["bot", *request["args"]]
        sys.path[0] = request["cwd"]
        # As `python -m bot` does: bot/__main__.py runs as __main__, not as the module
        # the launcher imported (runpy warns about a module it finds imported).
        sys.modules.pop("bot.__main__", None)
        try:
            runpy.run_module("bot", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as stop:
            if stop.code is None:
                code = 0
            elif isinstance(stop.code, int):
                code = stop.code
            else:
                print(stop.code, file=sys.stderr)
                code = 1
        except KeyboardInterrupt:
            code = 128 + signal.SIGINT
        except BaseException:
            traceback.print_exc()
            code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _returncode(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def serve(path: str) -> None:
    for module in PRELOAD:
        __import__(module)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    pending: dict[socket.socket, bytes] = {}
    children: dict[int, socket.socket] = {}
    print("ready", flush=True)
    while True:
        for key, _ in selector.select(timeout=0.05):
            sock = key.fileobj
            if sock is listener:
                conn, _ = listener.accept()
                pending[conn] = b""
                selector.register(conn, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(1 << 20)
            except OSError:
                data = b""
            if not data:  # the test side went away: the child's report has no reader
                selector.unregister(sock)
                pending.pop(sock, None)
                sock.close()
                continue
            if sock not in pending:
                continue
            pending[sock] += data
            if b"\n" not in pending[sock]:
                continue
            request = json.loads(pending.pop(sock))
            pid = os.fork()
            if pid == 0:
                _run_child(request, [selector, listener, *children.values(), *pending, sock])
            children[pid] = sock
            sock.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            sock = children.pop(pid, None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.sendall(json.dumps({"returncode": _returncode(status)}).encode() + b"\n")


if __name__ == "__main__":
    serve(sys.argv[1])
