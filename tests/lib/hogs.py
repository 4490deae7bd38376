# SPDX-License-Identifier: MIT
"""Idle connections held by other users: the lock-out attacks on quiesced's sockets.

Hog(path, uid, n) runs a child as uid (setpriv) that connects n times to the Unix
socket at path and sends nothing (or `send` on each connection: half a request). It
reports how many connections quiesced kept and the first bytes of those it answered
(a refusal). check() asks again later: how many are still open (quiesced closes idle
ones). The child goes when the Hog is closed, or when the test dies (stdin EOF).

kind "seqpacket" is the app socket without a hello; kind "app" registers an optional
app on each connection (names PREFIX0, PREFIX1, ... with prefix=, a 500 ms timeout):
results then lists each welcome's result (None: no welcome)."""
import json
import os
import select
import socket
import subprocess
import sys
import time

TYPES = {"stream": socket.SOCK_STREAM, "seqpacket": socket.SOCK_SEQPACKET, "app": socket.SOCK_SEQPACKET}


HERE = os.path.dirname(os.path.abspath(__file__))
_copy = []


def _child_script():
    """The child runs as another user, who may not be allowed to read the checkout: it
    runs from a world-readable copy of this file and appproto.py (made once)."""
    if not _copy:
        sys.path.insert(0, HERE)
        import qtest
        _copy.append(qtest.readable_copy(os.path.join(HERE, "hogs.py"),
                                         os.path.join(HERE, "appproto.py"))[0])
    return _copy[0]


class Hog:
    def __init__(self, path, uid, n, kind="stream", send=b"", settle=1.0, gid=None, prefix="hog"):
        if kind == "app":
            send = prefix.encode()
        cmd = [sys.executable, _child_script(), path, str(n), kind, send.hex(), str(settle)]
        if uid != 0:
            cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % (uid if gid is None else gid),
                   "--clear-groups"] + cmd
        self.uid = uid
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._first = None

    @property
    def first(self):
        """The child's first report (waited for here: start several Hogs, then read)."""
        if self._first is None:
            self._first = self._line()
        return self._first

    def _line(self):
        line = self.p.stdout.readline()
        return json.loads(line) if line else {"error": "child died"}

    @property
    def kept(self):
        return self.first.get("open", 0)

    @property
    def refused(self):
        return self.first.get("refused", [])

    @property
    def results(self):
        return self.first.get("results", [])

    def check(self):
        """Connections still open now."""
        self.p.stdin.write("check\n")
        self.p.stdin.flush()
        return self._line().get("open", -1)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def _alive(c):
    """Still open: nothing to read and no EOF."""
    try:
        return c.recv(4096, socket.MSG_PEEK | socket.MSG_DONTWAIT) is None
    except BlockingIOError:
        return True
    except OSError:
        return False


def _register(c, name):
    """Send a hello, return the welcome's result (None if none came)."""
    import appproto
    try:
        c.send(appproto.pack_hello(name, flags=appproto.F_OPTIONAL, timeout_ms=500))
        c.settimeout(5)
        w = appproto.unpack_welcome(c.recv(appproto.MAX_FRAME))
        c.setblocking(False)   # _alive() peeks without waiting
        return w["result"]
    except (OSError, ValueError, KeyError):
        return None


def _child(path, n, kind, send, settle):
    conns = []
    results = []
    for i in range(n):
        c = socket.socket(socket.AF_UNIX, TYPES[kind])
        try:
            c.connect(path)
        except OSError:
            c.close()
            continue
        if kind == "app":
            results.append(_register(c, "%s%d" % (send.decode(), i)))
            if results[-1] != 0:
                c.close()
                continue
        elif send:
            c.sendall(send)
        conns.append(c)
    time.sleep(settle)
    refused = []
    live = []
    for c in conns:
        if _alive(c):
            live.append(c)
            continue
        try:
            refused.append(c.recv(4096, socket.MSG_DONTWAIT).decode("utf-8", "replace").strip())
        except OSError:
            refused.append("")
    print(json.dumps({"open": len(live), "refused": refused, "results": results}), flush=True)
    while True:
        r, _, _ = select.select([sys.stdin], [], [])
        if not sys.stdin.readline():
            return
        print(json.dumps({"open": sum(1 for c in live if _alive(c))}), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _child(sys.argv[1], int(sys.argv[2]), sys.argv[3], bytes.fromhex(sys.argv[4]), float(sys.argv[5]))
