# SPDX-License-Identifier: MIT
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

VERSION = 1          # what these helpers speak unless told (every version 1 rule holds)
VERSION_MAX = 2      # the highest the daemon speaks
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

# Version 2 (docs/protocol.md §2.5, §2.6).
DETAIL_SIZE = 192
DETAIL_MAX = 127
QUERY_SIZE = 16
QUERY_FILESYSTEMS = 1
FSLIST_INCOMPLETE = 0x1
_QUERY = struct.Struct("=4sHH8s")
_FSHDR = struct.Struct("=4sHHII")
_FSENT = struct.Struct("=IIHHHH")

_MSG = struct.Struct("=IIQ48s")
_HELLO = struct.Struct("=4sHHII64s48s")
_WELCOME = struct.Struct("=4sHHIII12s")
assert _MSG.size == MSG_SIZE and _HELLO.size == HELLO_SIZE and _WELCOME.size == WELCOME_SIZE


def pack_msg(opt, msgid, status=0, reserved=b""):
    return _MSG.pack(opt, status, msgid, reserved.ljust(48, b"\0"))


def pack_detail_reply(opt, msgid, status, detail):
    if isinstance(detail, str):
        detail = detail.encode()
    return pack_msg(opt, msgid, status) + detail.ljust(DETAIL_SIZE - MSG_SIZE, b"\0")


def pack_query(kind=QUERY_FILESYSTEMS, version=2, reserved=b""):
    return _QUERY.pack(b"QAPQ", version, kind, reserved.ljust(8, b"\0"))


def unpack_fslist(buf):
    """(flags, [(major, minor, fstype, source, mountpoint)]) of a filesystem list."""
    magic, version, flags, count, res = _FSHDR.unpack_from(buf)
    if magic != b"QAPF" or version != 2 or res != 0:
        raise ValueError("not a filesystem list: %r" % buf[:16])
    off, out = _FSHDR.size, []
    for _ in range(count):
        major, minor, tl, sl, pl, r = _FSENT.unpack_from(buf, off)
        off += _FSENT.size
        fields = []
        for n in (tl, sl, pl):
            fields.append(buf[off:off + n].decode(errors="replace"))
            off += n
        out.append((major, minor) + tuple(fields))
    if off != len(buf):
        raise ValueError("filesystem list of %d bytes, entries end at %d" % (len(buf), off))
    return flags, out


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


def _recv(sock, timeout, size=MAX_FRAME + 64):
    """One record, b"" on hang-up; Timeout if nothing within timeout seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(size)
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

    def welcome(self, result=ACCEPTED, app_id=1, timeout_ms=15000, flags=None, version=None):
        if flags is None:
            flags = self.hello["flags"] if self.hello else 0
        if version is None:
            # As quiesced does: in the hello's version, if it is one it speaks.
            hv = self.hello["version"] if self.hello else VERSION
            version = hv if 1 <= hv <= VERSION_MAX else VERSION
        self.send(pack_welcome(result, app_id, timeout_ms, flags, version=version))

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

    def recv(self, timeout=5.0, size=MAX_FRAME + 64):
        return _recv(self.sock, timeout, size)

    def register(self, name, flags=0, timeout_ms=0, timeout=5.0, version=VERSION):
        self.send(pack_hello(name, flags, timeout_ms, version=version))
        return unpack_welcome(self.recv(timeout))

    def filesystems(self, timeout=5.0):
        """Ask the v2 filesystem query; (flags, entries) of the answer."""
        self.send(pack_query())
        return unpack_fslist(self.recv(timeout, 65536 + 1))

    def request(self, timeout=5.0):
        """(opt, status, msgid) of the daemon's next request."""
        opt, status, msgid, _ = unpack_msg(self.recv(timeout))
        return opt, status, msgid

    def reply(self, opt, msgid, status=SUCCESS):
        self.send(pack_msg(opt, msgid, status))

    def close(self):
        self.sock.close()
