# SPDX-License-Identifier: MIT
"""Drive tools/hvsim (the simulated kernel side of /dev/vmbus/hv_vss) from a test.

    sim = HvSim("@name" or "/path/sock", freeze_timeout="900s", timeout="30s")
    res = sim.cmd("freeze")          # the {"cmd":...} line that ends the command
    op = sim.op_result(res["seq"])   # the {"op":...} line of that host request
    sim.lines_since(mark)            # every line printed since sim.mark()
    sim.close()

Every command prints exactly one {"cmd": ...} line when it finishes; host requests also
print one {"op": ...} line; {"event": ...} lines come whenever things happen. See
tools/hvsim/README.md.

FakeDaemon is a minimal daemon that speaks the /dev/vmbus/hv_vss protocol on the socket,
for tests of hvsim itself and for scripted misbehaviour.
"""

import json
import os
import queue
import socket
import struct
import subprocess
import threading
import time

import qtest

VSS_OP_HOT_BACKUP = 2
VSS_OP_GET_DM_INFO = 3
VSS_OP_FREEZE = 5
VSS_OP_THAW = 6
VSS_OP_REGISTER = 128
VSS_OP_REGISTER1 = 129
HV_S_OK = 0
HV_E_FAIL = 0x80004005


class HvSimError(Exception):
    pass


class HvSim:
    def __init__(self, sock, freeze_timeout=None, timeout=None, wait_timeout=None, stderr=None,
                 exe=None):
        self.sock = sock
        argv = [exe or qtest.bin_path("hvsim"), "--socket", sock, "--verbose"]
        if freeze_timeout is not None:
            argv += ["--freeze-timeout", str(freeze_timeout)]
        if timeout is not None:
            argv += ["--timeout", str(timeout)]
        if wait_timeout is not None:
            argv += ["--wait-timeout", str(wait_timeout)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=stderr if stderr is not None else subprocess.DEVNULL,
                                     text=True, bufsize=1)
        self.lines = []          # every parsed line, in order
        self.raw = []            # every raw stdout line (for transcripts)
        self._cond = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        first = self.wait_line(lambda l: l.get("event") == "listening", 10)
        if not first:
            raise HvSimError("hvsim did not start listening on %s" % sock)

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            try:
                obj = json.loads(line)
            except ValueError:
                obj = {"unparsed": line}
            with self._cond:
                self.raw.append(line)
                self.lines.append(obj)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def mark(self):
        with self._cond:
            return len(self.lines)

    def lines_since(self, mark):
        with self._cond:
            return list(self.lines[mark:])

    def wait_line(self, pred, timeout=30.0, since=0):
        """First line (from index `since`) matching pred, waiting up to timeout s."""
        deadline = time.monotonic() + timeout
        i = since
        with self._cond:
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i]):
                        return self.lines[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    return None
                self._cond.wait(left)

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def cmd(self, line, timeout=60.0):
        """Send one command; return its {"cmd":...} line (raises if none comes)."""
        m = self.mark()
        self.send(line)
        res = self.wait_line(lambda l: "cmd" in l, timeout, since=m)
        if res is None:
            raise HvSimError("no result for %r within %ss" % (line, timeout))
        return res

    def op_result(self, seq, timeout=0.0):
        return self.wait_line(lambda l: "op" in l and l.get("seq") == seq, timeout)

    def request(self, line, timeout=60.0):
        """A synchronous host request ('freeze', 'op 99', ...): returns its {"op":...} line."""
        res = self.cmd(line, timeout)
        if "seq" not in res:
            raise HvSimError("%r is not a host request: %r" % (line, res))
        return self.op_result(res["seq"])

    def events(self, name, since=0):
        return [l for l in self.lines_since(since) if l.get("event") == name]

    def close(self, timeout=10.0):
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.stdin.close()
            except (BrokenPipeError, ValueError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def sockaddr(sock):
    return "\0" + sock[1:] if sock.startswith("@") else sock


class FakeDaemon:
    """The daemon side of the protocol, by hand."""

    def __init__(self, sock, register=True):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.connect(sockaddr(sock))
        if register:
            self.register()

    def register(self, op=VSS_OP_REGISTER1, read_reply=True):
        self.s.send(bytes([op]) + bytes(11))
        if read_reply and op == VSS_OP_REGISTER1:
            return self.recv(5.0)
        return None

    def recv(self, timeout=5.0):
        """One message (bytes), b'' on EOF, None if nothing within timeout."""
        self.s.settimeout(timeout)
        try:
            return self.s.recv(65536)
        except socket.timeout:
            return None
        except ConnectionResetError:
            return b""

    def reply(self, msg, error=HV_S_OK):
        """Reply like hv_vss_daemon: the received message with int error in bytes 0-3."""
        return self.s.send(struct.pack("<I", error & 0xFFFFFFFF) + msg[4:12])

    def send_raw(self, data):
        return self.s.send(data)

    def close(self):
        self.s.close()
