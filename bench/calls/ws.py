"""Just enough RFC 6455 for the load client: the opening handshake and frames, built and split inline.

Why not ``websockets``' client: its asyncio connection costs a lock, a task wake-up and a generator-based
parser per message, which at 200 calls (40 000 messages a second in both directions) needs more than the
one core the load generator has (measured: see __main__.py's module docstring). Frames here are one
``struct.pack`` and one C ``apply_mask`` to send, one header read to receive. The handshake key, the
accept check and the masking come from ``websockets`` itself.
"""

import random
import struct
from dataclasses import dataclass

from websockets.utils import accept_key, generate_key

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets built without its C extension: the pure-Python mask is correct, only slower
    from websockets.utils import apply_mask

__all__ = [
    "MAX_FRAME_BYTES",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONTINUATION",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "FrameError",
    "HandshakeError",
    "ServerFrame",
    "check_upgrade_response",
    "client_frame",
    "close_payload",
    "generate_key",
    "split_frames",
    "upgrade_request",
]

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
MAX_FRAME_BYTES = 1024 * 1024  # a media message is ~300 bytes; anything near this is a broken server
MAX_HANDSHAKE_BYTES = 16 * 1024
_FIN = 0x80
_MASKED = 0x80


class HandshakeError(Exception):
    """The server did not switch protocols (a refused join: 403, 404, 503) or answered malformed."""


class FrameError(Exception):
    """A server frame that breaks RFC 6455 (masked, oversized)."""


@dataclass(frozen=True, slots=True)
class ServerFrame:
    fin: bool
    opcode: int
    payload: bytes


def upgrade_request(host: str, port: int, path: str, key: str, user_agent: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: {user_agent}\r\n\r\n"
    ).encode("ascii")


def check_upgrade_response(head: bytes, key: str) -> None:
    """Validate the response head (up to, not including, the blank line); raise HandshakeError if refused."""
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or status[1] != "101":
        raise HandshakeError(f"join refused: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("upgrade", "").lower() != "websocket":
        raise HandshakeError(f"101 without Upgrade: websocket ({headers.get('upgrade')!r})")
    if headers.get("sec-websocket-accept") != accept_key(key):
        raise HandshakeError("Sec-WebSocket-Accept does not match the key")


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (RFC 6455 §5.2, §5.3)."""
    # §5.3 wants an unpredictable key so that a proxy cannot be poisoned; on loopback there is no proxy, and
    # a fresh PRNG key per frame costs a fraction of os.urandom's system call.
    mask = random.randbytes(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", _FIN | opcode, _MASKED | length)
    elif length < 65536:
        header = struct.pack("!BBH", _FIN | opcode, _MASKED | 126, length)
    else:
        header = struct.pack("!BBQ", _FIN | opcode, _MASKED | 127, length)
    return header + mask + apply_mask(payload, mask)


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()[:120]


def split_frames(buffer: bytes) -> tuple[list[ServerFrame], bytes]:
    """Whole frames at the head of ``buffer``, and the incomplete rest to keep for the next read."""
    frames: list[ServerFrame] = []
    position, size = 0, len(buffer)
    while size - position >= 2:
        first, second = buffer[position], buffer[position + 1]
        if second & _MASKED:
            raise FrameError("masked frame from the server (RFC 6455 §5.1 forbids it)")
        length, header = second & 0x7F, 2
        if length == 126:
            if size - position < 4:
                break
            length, header = struct.unpack_from("!H", buffer, position + 2)[0], 4
        elif length == 127:
            if size - position < 10:
                break
            length, header = struct.unpack_from("!Q", buffer, position + 2)[0], 10
        if length > MAX_FRAME_BYTES:
            raise FrameError(f"frame of {length} bytes")
        end = position + header + length
        if end > size:
            break
        frames.append(ServerFrame(bool(first & _FIN), first & 0x0F, buffer[position + header : end]))
        position = end
    return frames, buffer[position:]
