"""A real ``nats-server`` with JetStream on a free port in a temporary directory, for tests and the dev stack.

Modelled on nats.py's own test helper: port 0 is not used because the client needs the port up front;
instead a free port is picked, and readiness is read from the server's log output.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

READY_LINE = "Server is ready"
_LISTENING = re.compile(r"Listening for client connections on [^\s]*:(?P<port>\d+)")
START_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NatsServer:
    """``user``/``password`` and ``nkey`` (a user's public nkey, ``U…``) turn on authorization: clients
    must log in with that user and password, or sign the server's challenge with that nkey's seed."""

    def __init__(
        self,
        binary: str | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        nkey: str | None = None,
        store_dir: Path | None = None,
    ) -> None:
        """``store_dir`` holds JetStream's data (kept); by default it goes with the temporary directory."""
        if (user is None) != (password is None):
            raise ValueError("give both user and password, or neither")
        found = binary or shutil.which("nats-server")
        if found is None:
            raise RuntimeError("nats-server not found: install the Debian package 'nats-server'")
        self.binary = found
        self.port = 0
        """Known once started: the server picks its own port (``-p -1``) and logs it, so no other process
        can take the port between its choice and the server's bind, as a "free port" chosen ahead could."""
        self.user = user
        self.password = password
        self.nkey = nkey
        self._tmp = tempfile.TemporaryDirectory(prefix="callbridge-nats-")
        self.store_dir = store_dir or Path(self._tmp.name)
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        log = Path(self._tmp.name) / "nats.log"
        argv = [
            self.binary,
            "-a",
            "127.0.0.1",
            "-p",
            "-1",  # RANDOM_PORT
            "-js",
            "-sd",
            str(self.store_dir),
            "-l",
            str(log),
        ]
        users = []
        if self.user is not None and self.password is not None:
            users.append(f"{{user: {_quoted(self.user)}, password: {_quoted(self.password)}}}")
        if self.nkey is not None:
            users.append(f"{{nkey: {_quoted(self.nkey)}}}")
        if users:
            # A config file, not --user/--pass: the password stays out of the process list.
            config = Path(self._tmp.name) / "auth.conf"
            config.write_text(f"authorization {{ users: [{', '.join(users)}] }}\n")
            config.chmod(0o600)
            argv += ["-c", str(config)]
        self._process = subprocess.Popen(  # noqa: S603  (a fixed argv of the nats-server binary, no shell)
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            # Its own session, so a terminal's Ctrl-C (SIGINT to the foreground process group) reaches only
            # the program that started it, which stops its NATS clients first and this server last.
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self._process.returncode}: {_read(log)}")
            text = _read(log)
            if READY_LINE in text:
                listening = _LISTENING.search(text)
                if listening is None:
                    self.stop()
                    raise RuntimeError(f"nats-server did not say which port it listens on: {text}")
                self.port = int(listening["port"])
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nats-server not ready after {START_TIMEOUT_S}s: {_read(log)}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._tmp.cleanup()

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _quoted(value: str) -> str:
    """A string in nats-server's configuration syntax (JSON-compatible double quotes)."""
    return json.dumps(value)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
