"""probe.py - a small SMTP/LMTP latency probe for the bench harness.

One thread sends one message per connection, like smtp-source does
without -d, and records the time from connect() to the reply to the
final dot: the latency a client of the measured server sees. It runs
beside smtp-source (which gives the load) in a separate latency phase,
so its own CPU use never lowers a throughput figure. It paces itself
(a short pause between messages) to stay a small extra load on a
2-core machine.

Deliberately left out: pipelining, TLS, several recipients. Every
socket operation has a timeout; a failed transaction is counted as an
error, not as a sample.
"""

import socket
import threading
import time


def make_body(size):
    """make_body - a message of about size bytes of body, CRLF, dot-safe"""
    hdr = (b"From: <probe@example.net>\r\nTo: <to@example.com>\r\n"
           b"Subject: bench probe\r\nMessage-ID: <probe@bench.example.net>\r\n\r\n")
    line = b"x" * 76 + b"\r\n"
    n = max(1, size // len(line))
    return hdr + line * n


class Probe(threading.Thread):
    """Probe - latency samples (seconds) against 127.0.0.1:port"""

    def __init__(self, port, size, lmtp=False, pause=0.005, max_samples=5000, timeout=30):
        super().__init__(daemon=True)
        self.port, self.lmtp, self.pause = port, lmtp, pause
        self.max_samples, self.timeout = max_samples, timeout
        self.body = make_body(size)
        self.samples, self.errors, self.last_error = [], 0, ""
        self.stop_event = threading.Event()

    @staticmethod
    def _reply(f):
        """_reply - read one (multi-line) reply; its code as int"""
        while True:
            line = f.readline(4096)
            if not line:
                raise OSError("connection closed")
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3])

    def _expect(self, f, ok):
        code = self._reply(f)
        if code // 100 != ok:
            raise OSError("unexpected reply %d" % code)

    def one(self):
        """one - one transaction; its latency in seconds"""
        t0 = time.perf_counter()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        try:
            f = s.makefile("rb")
            self._expect(f, 2)
            s.sendall(b"LHLO probe.example.net\r\n" if self.lmtp else b"EHLO probe.example.net\r\n")
            self._expect(f, 2)
            s.sendall(b"MAIL FROM:<probe@example.net>\r\n")
            self._expect(f, 2)
            s.sendall(b"RCPT TO:<to@example.com>\r\n")
            self._expect(f, 2)
            s.sendall(b"DATA\r\n")
            self._expect(f, 3)
            s.sendall(self.body + b".\r\n")
            self._expect(f, 2)
            t1 = time.perf_counter()
            try:
                s.sendall(b"QUIT\r\n")
                self._reply(f)
            except OSError:
                pass
            return t1 - t0
        finally:
            s.close()

    def run(self):
        while not self.stop_event.is_set() and len(self.samples) < self.max_samples:
            try:
                self.samples.append(self.one())
            except (OSError, ValueError) as e:
                self.errors += 1
                self.last_error = str(e)
                self.stop_event.wait(0.05)
                continue
            if self.pause:
                self.stop_event.wait(self.pause)

    def finish(self, timeout=35):
        """finish - stop and join; the samples in milliseconds"""
        self.stop_event.set()
        self.join(timeout)
        return [x * 1000.0 for x in self.samples]
