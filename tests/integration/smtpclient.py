#!/usr/bin/env python3
"""smtpclient.py - SMTP/LMTP dialogue client and message tools for the
tollgate integration tests (tests/integration/lib.sh drives it).

It prints every line of the dialogue, server lines as "S: ..." and client
lines as "C: ..." (long client lines are shortened in the transcript only),
so a test can assert exact replies with grep.  It deliberately leaves out
TLS and AUTH.  Every socket operation has a timeout; a timeout prints
"S: <TIMEOUT>" and exits 3, a closed connection prints "S: <EOF>".

Sub-commands:
  script HOST PORT [FILE]   run a dialogue script (FILE or stdin), see below
  send HOST PORT ...        one whole transaction (send -h for options)
  genmsg --size N --out F   write a CRLF message of about N bytes
  bodyhash FILE             sha256 of the body (after the first empty line)
                            as the bytes that go on the wire (before
                            dot-stuffing): CRLF line ends, as data/send make
                            them; --sink: FILE is an smtp-sink dump (one LF
                            per line, dot-stuffing undone, one closing empty
                            line), turned back into those bytes; a dump
                            without its closing empty line is an error
                            (exit 1), nothing else is trimmed
  headers FILE              the header section, unfolded, one per line

Script lines (one command per line; blank lines and '#' lines are ignored):
  <            read one reply (all of its lines)
  <N           read N replies
  > TEXT       send TEXT CRLF
  = TEXT       send TEXT CRLF and read one reply
  pad N TEXT   send TEXT padded with 'X' to N bytes, then CRLF
  raw TEXT     send TEXT with Python escapes (\\r \\n \\t \\xNN) decoded
  data FILE    send FILE as DATA content: line ends made CRLF, dot-stuffed,
               then the final "." line (no reply is read)
  bdat FILE N  send FILE as BDAT chunks of N bytes; the reply of each chunk
               but the LAST one is read (read that one with '<')
  sleep S      pause S seconds
  eof          wait until the server closes (prints S: <EOF>)
"""

import argparse
import hashlib
import os
import socket
import sys
import time

MAX_SHOW = 120          # client lines longer than this are shortened


class Session:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.eof = False

    def _readline(self):
        while b"\n" not in self.buf:
            if self.eof:
                return None
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                print("S: <TIMEOUT>", flush=True)
                sys.exit(3)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                if self.buf:
                    line, self.buf = self.buf, b""
                    return line
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def reply(self):
        """read one (possibly multi-line) reply; return its lines"""
        lines = []
        while True:
            raw = self._readline()
            if raw is None:
                print("S: <EOF>", flush=True)
                return lines
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            print("S: " + line, flush=True)
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return lines

    def send(self, data, show=None):
        if show is not None:
            for l in show.split("\n"):
                if len(l) > MAX_SHOW:
                    l = l[:MAX_SHOW] + "...(%d bytes)" % len(l)
                print("C: " + l, flush=True)
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            print("S: <EOF>", flush=True)
            self.eof = True
        except socket.timeout:
            print("S: <TIMEOUT>", flush=True)
            sys.exit(3)

    def line(self, text):
        self.send(text.encode("utf-8", "surrogateescape") + b"\r\n", text)

    def wait_eof(self):
        while self._readline() is not None:
            pass
        print("S: <EOF>", flush=True)


def crlf_dotstuff(data):
    """make line ends CRLF, dot-stuff, and append the end-of-data line"""
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\r\n.", b"\r\n..")
    return data + b".\r\n"


def run_script(sess, lines):
    for raw in lines:
        cmd = raw.rstrip("\n")
        if not cmd.strip() or cmd.lstrip().startswith("#"):
            continue
        if cmd.startswith("<"):
            n = int(cmd[1:].strip() or "1")
            for _ in range(n):
                sess.reply()
        elif cmd.startswith("> ") or cmd == ">":
            sess.line(cmd[2:])
        elif cmd.startswith("= "):
            sess.line(cmd[2:])
            sess.reply()
        elif cmd.startswith("pad "):
            _, n, text = cmd.split(" ", 2)
            text = text + "X" * max(0, int(n) - len(text))
            sess.line(text)
        elif cmd.startswith("raw "):
            text = cmd[4:].encode("latin-1").decode("unicode_escape")
            sess.send(text.encode("latin-1"), text.rstrip("\r\n").replace("\r\n", "\n"))
        elif cmd.startswith("data "):
            with open(cmd[5:], "rb") as f:
                body = f.read()
            sess.send(crlf_dotstuff(body), "<data %s, %d bytes>\n." % (cmd[5:], len(body)))
        elif cmd.startswith("bdat "):
            _, path, size = cmd.split(" ")
            size = int(size)
            with open(path, "rb") as f:
                body = f.read()
            chunks = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
            for i, chunk in enumerate(chunks):
                last = i == len(chunks) - 1
                verb = "BDAT %d%s" % (len(chunk), " LAST" if last else "")
                sess.send(verb.encode() + b"\r\n" + chunk, verb)
                if not last:
                    sess.reply()
        elif cmd.startswith("sleep "):
            time.sleep(float(cmd[6:]))
        elif cmd == "eof":
            sess.wait_eof()
        else:
            sys.exit("smtpclient: bad script line: %r" % cmd)


def make_message(args, rcpts):
    if args.file:
        with open(args.file, "rb") as f:
            return f.read()
    hdr = ["From: <%s>" % args.mail_from, "To: " + ", ".join("<%s>" % r for r in rcpts),
           "Subject: %s" % args.subject, "Message-ID: <%s>" % args.message_id,
           "Date: Thu, 01 Jan 2026 00:00:00 +0000"]
    hdr += args.header
    body = ["", "Hello,", "this is a clean test message.", ".leading dot line", "Bye."]
    return ("\r\n".join(hdr + body) + "\r\n").encode()


def do_send(sess, args):
    """one transaction, no pipelining; exit status 0 iff every final reply is 2xx"""
    greet = sess.reply()
    if not greet or not greet[0].startswith("220"):
        return 1
    sess.line(("LHLO " if args.lmtp else "EHLO ") + args.helo)
    ehlo = sess.reply()
    if not ehlo or not ehlo[-1].startswith("250"):
        return 1
    for xf in args.xforward:
        sess.line("XFORWARD " + xf)
        sess.reply()
    mail = "MAIL FROM:<%s>" % args.mail_from
    if args.mail_params:
        mail += " " + args.mail_params
    sess.line(mail)
    r = sess.reply()
    if not r or not r[-1].startswith("250"):
        return 1
    accepted = 0
    for rc in args.to:
        sess.line("RCPT TO:<%s>" % rc)
        r = sess.reply()
        if r and r[-1].startswith("2"):
            accepted += 1
    if accepted == 0:
        return 1
    msg = make_message(args, args.to)
    if args.bdat:
        chunks = [msg[i:i + args.bdat] for i in range(0, len(msg), args.bdat)]
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            verb = "BDAT %d%s" % (len(chunk), " LAST" if last else "")
            sess.send(verb.encode() + b"\r\n" + chunk, verb)
            if not last:
                r = sess.reply()
                if not r or not r[-1].startswith("250"):
                    return 1
    else:
        sess.line("DATA")
        r = sess.reply()
        if not r or not r[-1].startswith("354"):
            return 1
        sess.send(crlf_dotstuff(msg), "<message, %d bytes>\n." % len(msg))
    status = 0
    for _ in range(accepted if args.lmtp else 1):
        r = sess.reply()
        if not r or not r[-1].startswith("2"):
            status = 1
    sess.line("QUIT")
    sess.reply()
    return status


def genmsg(args):
    """a message of about --size bytes: CRLF lines, 76 base64 chars each"""
    import base64
    rnd = open("/dev/urandom", "rb")
    hdr = ("From: <sender@example.net>\r\nTo: <rcpt@example.com>\r\n"
           "Subject: %s\r\nMessage-ID: <%s>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
           "\r\n" % (args.subject, args.message_id)).encode()
    with open(args.out, "wb") as out:
        out.write(hdr)
        left = max(0, args.size - len(hdr))
        while left > 0:
            block = base64.b64encode(rnd.read(57 * 1024))
            lines = b"".join(block[i:i + 76] + b"\r\n" for i in range(0, len(block), 76))
            out.write(lines[:left] if left >= len(lines) else lines[:left - left % 78])
            left -= len(lines)
    return 0


def wire_body(data):
    """the body of a message file as data/send put it on the wire (before
    dot-stuffing): after the first empty line, line ends made CRLF"""
    ends = [(i, n) for i, n in ((data.find(b"\r\n\r\n"), 4), (data.find(b"\n\n"), 2)) if i >= 0]
    if not ends:
        return b""
    i, n = min(ends)
    body = data[i + n:].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"          # as crlf_dotstuff ends the last line
    return body


def sink_body(data):
    """the wire bytes (before dot-stuffing) of the body of an smtp-sink
    dump: smtp-sink writes each line with LF, the dot-stuffing undone, and
    one empty line after the message; None when that line is missing"""
    i = data.find(b"\n\n")
    if i < 0 or not data.endswith(b"\n\n"):
        return None
    body = data[i + 2:-1]
    if not body:
        return b""
    lines = body[:-1].split(b"\n") if body.endswith(b"\n") else None
    if lines is None:
        return None
    return b"".join(l + b"\r\n" for l in lines)


def bodyhash(args):
    with open(args.file, "rb") as f:
        data = f.read()
    body = sink_body(data) if args.sink else wire_body(data)
    if body is None:
        print("bodyhash: %s is not a whole smtp-sink dump (no closing empty line)" % args.file,
              file=sys.stderr)
        return 1
    print(hashlib.sha256(body).hexdigest())
    return 0


def headers(args):
    with open(args.file, "rb") as f:
        data = f.read().replace(b"\r\n", b"\n")
    out = []
    for line in data.split(b"\n"):
        if line == b"":
            break
        if line[:1] in (b" ", b"\t") and out:
            out[-1] += b" " + line.strip()
        else:
            out.append(line)
    for h in out:
        print(h.decode("utf-8", "replace"))
    return 0


def main():
    ap = argparse.ArgumentParser(description="SMTP/LMTP test client")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sc = sub.add_parser("script")
    sc.add_argument("host")
    sc.add_argument("port", type=int)
    sc.add_argument("file", nargs="?")
    sc.add_argument("--timeout", type=float, default=60)
    sd = sub.add_parser("send")
    sd.add_argument("host")
    sd.add_argument("port", type=int)
    sd.add_argument("--lmtp", action="store_true")
    sd.add_argument("--helo", default="client.example.net")
    sd.add_argument("--from", dest="mail_from", default="sender@example.net")
    sd.add_argument("--mail-params", default="")
    sd.add_argument("--to", action="append", default=[])
    sd.add_argument("--xforward", action="append", default=[])
    sd.add_argument("--file")
    sd.add_argument("--subject", default="clean test")
    sd.add_argument("--message-id", default="clean-test@example.net")
    sd.add_argument("--header", action="append", default=[])
    sd.add_argument("--bdat", type=int, default=0, help="send with BDAT chunks of N bytes")
    sd.add_argument("--timeout", type=float, default=60)
    gm = sub.add_parser("genmsg")
    gm.add_argument("--size", type=int, required=True)
    gm.add_argument("--out", required=True)
    gm.add_argument("--subject", default="big test")
    gm.add_argument("--message-id", default="big-test@example.net")
    bh = sub.add_parser("bodyhash")
    bh.add_argument("file")
    bh.add_argument("--sink", action="store_true")
    hd = sub.add_parser("headers")
    hd.add_argument("file")
    args = ap.parse_args()

    if args.cmd == "genmsg":
        return genmsg(args)
    if args.cmd == "bodyhash":
        return bodyhash(args)
    if args.cmd == "headers":
        return headers(args)
    try:
        sess = Session(args.host, args.port, args.timeout)
    except OSError as e:
        print("S: <CONNECT FAILED: %s>" % e, flush=True)
        return 2
    if args.cmd == "script":
        if args.file:
            with open(args.file) as f:
                lines = f.readlines()
        else:
            lines = sys.stdin.readlines()
        run_script(sess, lines)
        return 0
    if not args.to:
        args.to = ["rcpt@example.com"]
    return do_send(sess, args)


if __name__ == "__main__":
    sys.exit(main())
