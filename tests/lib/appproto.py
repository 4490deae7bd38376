"""The app socket protocol (docs/protocol.md) in Python, for tests.

Both ends:
  - FakeDaemon: listens on a SEQPACKET socket and plays quiesced's side, one
    connection per FakeApp object, so tests can send requests, garbage or hang-ups
    and check every byte an app sends. Use it to test libquiesce and the examples.
  - RawApp: a hand-driven app, to test the daemon's app registry with frames the
    library would never send.

Frames are packed with the host's native byte order, as the protocol says.
"""

import os
import socket
import struct
import time

VERSION = 1
MSG_SIZE = 64
HELLO_SIZE = 128
WELCOME_SIZE = 32
MAX_FRAME = 128
HELLO_MAGIC = b"QAPH"
WELCOME_MAGIC = b"QAPW"

NONE, CHECK, FREEZE, THAW = 0, 1, 2, 3
OP_NAMES = {NONE: "NONE", CHECK: "CHECK", FREEZE: "FREEZE", THAW: "THAW"}
SUCCESS, FAIL = 0, 1
F_OPTIONAL = 0x1

ACCEPTED = 0
REFUSED_VERSION = 1
REFUSED_HELLO = 2
REFUSED_NAME = 3
REFUSED_NAME_TAKEN = 4
REFUSED_TOO_MANY = 5
REFUSED_PERMISSION = 6

_MSG = struct.Struct("=IIQ48s")
_HELLO = struct.Struct("=4sHHII64s48s")
_WELCOME = struct.Struct("=4sHHIII12s")
assert _MSG.size == MSG_SIZE and _HELLO.size == HELLO_SIZE and _WELCOME.size == WELCOME_SIZE


def pack_msg(opt, msgid, status=0, reserved=b""):
    return _MSG.pack(opt, status, msgid, reserved.ljust(48, b"\0"))


def unpack_msg(buf):
    """(opt, status, msgid, reserved) of a 64-byte frame; ValueError otherwise."""
    if len(buf) != MSG_SIZE:
        raise ValueError("frame of %d bytes, not %d" % (len(buf), MSG_SIZE))
    return _MSG.unpack(buf)


def pack_hello(name, flags=0, timeout_ms=0, version=VERSION, magic=HELLO_MAGIC,
               reserved0=0, reserved=b""):
    if isinstance(name, str):
        name = name.encode()
    return _HELLO.pack(magic, version, reserved0, flags, timeout_ms, name.ljust(64, b"\0")[:64],
                       reserved.ljust(48, b"\0"))


def unpack_hello(buf):
    """dict of a hello's fields (name as bytes up to the first NUL); ValueError if not 128 bytes."""
    if len(buf) != HELLO_SIZE:
        raise ValueError("hello of %d bytes" % len(buf))
    magic, version, res0, flags, timeout_ms, name, res = _HELLO.unpack(buf)
    return {"magic": magic, "version": version, "reserved0": res0, "flags": flags,
            "timeout_ms": timeout_ms, "name": name.split(b"\0", 1)[0], "name_field": name,
            "reserved": res}


def pack_welcome(result=ACCEPTED, app_id=1, timeout_ms=15000, flags=0, version=VERSION,
                 magic=WELCOME_MAGIC, reserved=b""):
    if result != ACCEPTED:
        app_id = timeout_ms = flags = 0
    return _WELCOME.pack(magic, version, result, app_id, timeout_ms, flags,
                         reserved.ljust(12, b"\0"))


def unpack_welcome(buf):
    if len(buf) != WELCOME_SIZE:
        raise ValueError("welcome of %d bytes" % len(buf))
    magic, version, result, app_id, timeout_ms, flags, res = _WELCOME.unpack(buf)
    return {"magic": magic, "version": version, "result": result, "app_id": app_id,
            "timeout_ms": timeout_ms, "flags": flags, "reserved": res}


class Timeout(Exception):
    pass


def _recv(sock, timeout):
    """One record, b"" on hang-up; Timeout if nothing within timeout seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(MAX_FRAME + 64)
    except socket.timeout:
        raise Timeout()
    except ConnectionResetError:
        return b""


class FakeApp:
    """The daemon's view of one app connection."""

    def __init__(self, sock):
        self.sock = sock
        self.hello = None
        self.next_msgid = 1000

    def recv(self, timeout=5.0):
        return _recv(self.sock, timeout)

    def read_hello(self, timeout=5.0):
        buf = self.recv(timeout)
        self.hello = unpack_hello(buf)
        return self.hello

    def welcome(self, result=ACCEPTED, app_id=1, timeout_ms=15000, flags=None):
        if flags is None:
            flags = self.hello["flags"] if self.hello else 0
        self.send(pack_welcome(result, app_id, timeout_ms, flags))

    def send(self, raw):
        self.sock.send(raw)

    def request(self, opt, msgid=None):
        """Send a request; returns its msgid."""
        if msgid is None:
            self.next_msgid += 1
            msgid = self.next_msgid
        self.send(pack_msg(opt, msgid))
        return msgid

    def reply(self, timeout=5.0):
        """(opt, status, msgid) of the next reply, after checking its size and reserved bytes."""
        buf = self.recv(timeout)
        opt, status, msgid, res = unpack_msg(buf)
        if res != b"\0" * 48:
            raise ValueError("reply with nonzero reserved bytes")
        return opt, status, msgid

    def ask(self, opt, timeout=5.0):
        """Request and wait for its reply: status, or None on timeout."""
        msgid = self.request(opt)
        try:
            ropt, status, rid = self.reply(timeout)
        except Timeout:
            return None
        if (ropt, rid) != (opt, msgid):
            raise ValueError("reply (%d, %d) to request (%d, %d)" % (ropt, rid, opt, msgid))
        return status

    def closed_within(self, timeout=5.0):
        """True if the app hangs up within timeout (anything it sends first is discarded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.recv(max(0.01, deadline - time.monotonic())) == b"":
                    return True
            except Timeout:
                return False
        return False

    def close(self):
        self.sock.close()


class FakeDaemon:
    """A listening app socket. accept() gives one FakeApp per connection."""

    def __init__(self, path, backlog=8):
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(path)
        self.sock.listen(backlog)

    def accept(self, timeout=5.0):
        self.sock.settimeout(timeout)
        try:
            s, _ = self.sock.accept()
        except socket.timeout:
            raise Timeout()
        s.settimeout(None)
        return FakeApp(s)

    def register(self, timeout=5.0, **welcome):
        """Accept an app, read its hello and accept it."""
        app = self.accept(timeout)
        app.read_hello(timeout)
        app.welcome(**welcome)
        return app

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class RawApp:
    """An app driven by hand, for testing the daemon's side."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(path)

    def send(self, raw):
        self.sock.send(raw)

    def recv(self, timeout=5.0):
        return _recv(self.sock, timeout)

    def register(self, name, flags=0, timeout_ms=0, timeout=5.0):
        self.send(pack_hello(name, flags, timeout_ms))
        return unpack_welcome(self.recv(timeout))

    def request(self, timeout=5.0):
        """(opt, status, msgid) of the daemon's next request."""
        opt, status, msgid, _ = unpack_msg(self.recv(timeout))
        return opt, status, msgid

    def reply(self, opt, msgid, status=SUCCESS):
        self.send(pack_msg(opt, msgid, status))

    def close(self):
        self.sock.close()
