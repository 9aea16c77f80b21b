"""The data directory of ``callbridge up``: the private nats-server's JetStream store, which holds every
agent, imported credential and call, so that they outlive a restart; and the demo call's recording.

It defaults to ``.callbridge/`` in the current directory, beside the checkout's ``.venv``: each checkout
gets its own data, made by its own code, and ``rm -rf .callbridge`` starts over. One ``callbridge up`` at a
time may use a directory (two nats-servers writing one store would corrupt it), which a lock file enforces.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import os
import secrets
import select
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from callbridge.devkit.errors import DataDirError

__all__ = ["DEFAULT_DATA_DIR", "DataDir", "open_data_dir"]

DEFAULT_DATA_DIR = Path(".callbridge")
_LOCK = "lock"
_NATS_PID = "nats-server.pid"
_KEY_CHECK = "secret-key.scrypt"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~50 ms: a weak key in this file is not cheap to guess offline
_STOP_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class DataDir:
    path: Path
    ephemeral: bool
    """A temporary directory, removed when ``callbridge up`` stops."""

    @property
    def jetstream_dir(self) -> Path:
        return self.path / "nats"

    @property
    def demo_recording(self) -> Path:
        """What the demo call's caller heard; one file, overwritten by each run."""
        return self.path / "demo-heard.wav"

    def record_nats_server(self, pid: int | None) -> None:
        """Remember the private nats-server (None: it has stopped), so that a later run can stop it if this
        one dies without doing so."""
        if self.ephemeral:
            return
        if pid is None:
            (self.path / _NATS_PID).unlink(missing_ok=True)
        else:
            (self.path / _NATS_PID).write_text(f"{pid}\n")

    def secret_key_changed(self, secret_key: str) -> bool:
        """True when the previous run used another secret key (what it encrypted, this one cannot read).

        Only a salted scrypt hash of the key is kept, and it is replaced by this key's.
        """
        check = self.path / _KEY_CHECK
        changed = False
        with contextlib.suppress(FileNotFoundError, ValueError):
            salt_hex, digest_hex = check.read_text().split()
            expected = bytes.fromhex(digest_hex)
            changed = not hmac.compare_digest(_key_digest(secret_key, bytes.fromhex(salt_hex)), expected)
        salt = secrets.token_bytes(16)
        check.write_text(f"{salt.hex()} {_key_digest(secret_key, salt).hex()}\n")
        return changed


def _key_digest(secret_key: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret_key.encode(), salt=salt, dklen=32, **_SCRYPT)


@contextlib.contextmanager
def open_data_dir(path: Path | None) -> Iterator[DataDir]:
    """The data directory at ``path``, created and locked; a temporary one when ``path`` is None."""
    if path is None:
        with tempfile.TemporaryDirectory(prefix="callbridge-") as temporary:
            yield DataDir(Path(temporary), ephemeral=True)
        return
    path = path.absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
        lock = (path / _LOCK).open("a")
    except OSError as exc:
        raise DataDirError(f"cannot use the data directory {path}: {exc.strerror or exc}") from exc
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirError(
                f"the data directory {path} is in use by another callbridge up: stop that one, "
                "or pass --data-dir DIR or --ephemeral"
            ) from None
        data_dir = DataDir(path, ephemeral=False)
        _stop_left_over_nats_server(data_dir)
        yield data_dir  # the lock goes with the file, also when this process dies


def _stop_left_over_nats_server(data_dir: DataDir) -> None:
    """Stop a nats-server that a killed ``callbridge up`` left running on this store (it held the lock, so
    no live run owns it), before a new one opens the same store."""
    pid_file = data_dir.path / _NATS_PID
    try:
        pid = int(pid_file.read_text())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return  # no record, or that process is gone
    finally:
        pid_file.unlink(missing_ok=True)
    if not argv[0].endswith(b"nats-server") or os.fsencode(data_dir.jetstream_dir) not in argv:
        return  # the pid was reused by an unrelated process
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, _STOP_WAIT_S):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, _STOP_WAIT_S)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait for a process that is not our child to exit (a pidfd becomes readable when it does)."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError as exc:
        return exc.errno == errno.ESRCH
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout_s)
        return bool(readable)
    finally:
        os.close(pidfd)
