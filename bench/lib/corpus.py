#!/usr/bin/env python3
"""corpus.py - realistic, deterministic bench mail and the load client that sends it.

smtp-source's body is one repeated line: no scanner's cost on it means
much. This module makes messages of real shapes from a seed, with nothing
from outside the repository:

  text    plain English-like text, wrapped paragraphs
  html    a newsletter: multipart/alternative, text part and HTML part
  pdf     multipart/mixed: a short note and a PDF (text and an image stream) as base64
  zip     multipart/mixed: a note and a zip (a text file and a JPEG-like member, stored)
  jpeg    multipart/mixed: a note and a JPEG-like binary (JFIF header, COM segment)
  thread  a reply thread: three levels of quoted text and a signature

at any size (4 KiB, 100 KiB and 1 MiB in bench/run). The same shape, size
and seed always give the same messages; every message still differs from
every other one: a unique Message-ID and a unique token in every part
(the text, the HTML, inside each binary before its base64, inside the zip
members), so neither a scan cache of the filter nor libclamav's cache of
clean files can answer for a message or one of its parts.

The load client (`send`) keeps --conc connections open (as Postfix's lmtp
client does), each sending its share of --count messages one after the
other: MAIL, RCPT and DATA pipelined in one write when the server offers
PIPELINING, then the content and the dot. It prints one JSON line:
messages sent and accepted (2xx to the dot), wall seconds, its own CPU
seconds, and the errors.

  corpus.py sample --shape html --size 100k --seed 1 --index 7   # one message on stdout
  corpus.py send --port 10024 --lmtp --conc 2 --count 100 --shape pdf --size 4k

Limits: every wait has a timeout (--timeout); at most --count messages
and a bounded number of reconnects per connection; loopback use only is
intended. The PDF, zip and JPEG are well-formed enough for file-type
detection and the scanners' parsers, not for a viewer.
"""

import argparse
import base64
import io
import json
import random
import re
import socket
import sys
import threading
import time
import zipfile
import zlib

SHAPES = ("text", "html", "pdf", "zip", "jpeg", "thread")
TOKEN_LEN = 24
PLACEHOLDER = b"\x01" * TOKEN_LEN       # never produced by the generators below
RECONNECTS_MAX = 5
REPLY_LINE_MAX = 4096

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there been one all we their has would when if so no will "
    "more can out who up said what about them other into than its time only could new these two "
    "may first then do any like my now over such our man me even most made after also did many "
    "before must through back years where much your way well down should because each just those "
    "people how too little state good very make world still own see men work long get here between "
    "both life being under never day same another know while last might us great old year off come "
    "since against go came right used take three report meeting quarter budget customer order "
    "invoice delivery schedule project team review update release shipment account payment office "
    "weekend morning plan draft contract price market product service support question answer"
).split()
NAMES = ("Alice Martin", "Bob Okafor", "Carla Nguyen", "David Schmidt", "Elena Rossi", "Farid Haddad",
         "Grace Kim", "Hugo Dubois", "Ines Costa", "Jonas Berg")


def stable_seed(*parts):
    """stable_seed - an int from the parts, the same in every Python process
    (hash() of a str is randomised per process)"""
    return zlib.crc32(repr(parts).encode())


def parse_size(s):
    """parse_size - 4096, 4k, 100K, 1m -> bytes"""
    m = re.fullmatch(r"(\d+)\s*([kKmM]?)(i?[bB])?", str(s).strip())
    if not m:
        raise ValueError("bad size %r" % s)
    return int(m.group(1)) * {"": 1, "k": 1024, "K": 1024, "m": 1 << 20, "M": 1 << 20}[m.group(2)]


# ---------------------------------------------------------------- text

def sentence(rng):
    n = rng.randint(6, 18)
    w = [rng.choice(WORDS) for _ in range(n)]
    if rng.random() < 0.15:
        w.insert(rng.randint(0, n - 1), str(rng.randint(2, 2030)))
    s = " ".join(w)
    if rng.random() < 0.3:
        k = rng.randint(1, n - 2)
        s = " ".join(w[:k]) + ", " + " ".join(w[k:])
    return s[0].upper() + s[1:] + rng.choice(".....?!")


def paragraphs(rng, nbytes, width=72, prefix=""):
    """paragraphs - wrapped English-like text of about nbytes, CRLF lines,
    each line starting with prefix (quoting)"""
    out, total = [], 0
    while total < nbytes:
        words = " ".join(sentence(rng) for _ in range(rng.randint(2, 6))).split()
        line = prefix
        for w in words:
            if len(line) + len(w) + 1 > width and line != prefix:
                out.append(line)
                total += len(line) + 2
                line = prefix
            line += ("" if line == prefix else " ") + w
        out.append(line)
        out.append(prefix.rstrip())
        total += len(line) + len(prefix) + 4
    return "\r\n".join(out) + "\r\n"


def html_body(rng, nbytes):
    """html_body - a newsletter's HTML: header, articles with links, footer"""
    out = ['<!DOCTYPE html>', '<html><head><meta charset="utf-8"><title>Newsletter</title>',
           '<style>body{font-family:Arial,sans-serif;color:#222}h2{color:#0a4f8f}'
           'td{padding:8px}a{color:#0a4f8f}</style></head>',
           '<body><table width="600" align="center" cellpadding="0" cellspacing="0">',
           '<tr><td><h1>Monthly news</h1><p>Reference ' + PLACEHOLDER.decode("latin-1") + '</p></td></tr>']
    total = sum(len(x) for x in out)
    n = 0
    while total < nbytes - 200:
        n += 1
        art = ['<tr><td><h2>%s</h2>' % sentence(rng).rstrip(".?!")]
        for _ in range(rng.randint(1, 3)):
            art.append("<p>%s</p>" % " ".join(sentence(rng) for _ in range(rng.randint(2, 4))))
        art.append('<p><a href="https://news.example.com/a/%d?utm_source=newsletter&amp;utm_medium=email">'
                   'Read more</a></p></td></tr>' % (rng.randint(1000, 99999)))
        s = "\r\n".join(art)
        out.append(s)
        total += len(s) + 2
    out.append('<tr><td><small>You receive this because you subscribed. '
               '<a href="https://news.example.com/unsubscribe">Unsubscribe</a></small></td></tr>')
    out.append("</table></body></html>")
    return wrap_html("".join(out))


def wrap_html(text, width=200):
    """wrap_html - lines of at most about width bytes, broken after a tag
    or a space (SMTP allows 998), CRLF"""
    lines, cur = [], ""
    for piece in re.split(r"(?<=[> ])", text):
        if cur and len(cur) + len(piece) > width:
            lines.append(cur)
            cur = ""
        cur += piece
    if cur:
        lines.append(cur)
    return "\r\n".join(lines) + "\r\n"


# ---------------------------------------------------------------- binaries

def jpeg_like(rng, nbytes):
    """jpeg_like - SOI, JFIF APP0, a COM segment with the token, quantisation
    and huffman-looking segments, noise as entropy-coded data, EOI"""
    head = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x48\x00\x48\x00\x00"
            + b"\xff\xfe" + (2 + TOKEN_LEN).to_bytes(2, "big") + PLACEHOLDER
            + b"\xff\xdb\x00\x43\x00" + rng.randbytes(64)
            + b"\xff\xc0\x00\x11\x08\x01\xe0\x02\x80\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
            + b"\xff\xc4\x00\x1f\x00" + rng.randbytes(28)
            + b"\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00")
    body = bytearray(rng.randbytes(max(16, nbytes - len(head) - 2)))
    # no markers inside entropy-coded data: 0xff is followed by 0x00 (stuffing)
    body = bytes(body).replace(b"\xff", b"\xff\x00")[:max(16, nbytes - len(head) - 2)]
    if body.endswith(b"\xff"):
        body = body[:-1] + b"\x00"
    return head + body + b"\xff\xd9"


def pdf_like(rng, nbytes):
    """pdf_like - a one-page PDF 1.4: catalog, info (the token in /Title),
    a text content stream, an image XObject (DCT, JPEG-like bytes), xref"""
    text = paragraphs(rng, min(2000, max(200, nbytes // 8))).replace("\r\n", " ")
    text = re.sub(r"[()\\]", "", text)
    content = ("BT /F1 11 Tf 72 760 Td 14 TL (Ref %s) Tj T* (%s) Tj ET\nq 200 0 0 150 72 400 cm /Im1 Do Q\n"
               % (PLACEHOLDER.decode("latin-1"), text[:1500])).encode("latin-1")
    img = jpeg_like(rng, max(256, nbytes - len(content) - 900))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 6 0 R >> /XObject << /Im1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /XObject /Subtype /Image /Width 640 /Height 480 /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n" % len(img) + img + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (" + PLACEHOLDER + b") /Producer (tollgate bench) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offs = []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for o in offs:
        out += b"%010d 00000 n \n" % o
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 7 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def zip_members(rng, nbytes):
    """zip_members - (name, bytes) of the zip: a report text and a photo"""
    txt = paragraphs(rng, max(200, nbytes // 5)).encode() + b"Ref " + PLACEHOLDER + b"\r\n"
    return [("report.txt", txt), ("photo.jpg", jpeg_like(rng, max(256, nbytes - len(txt) - 300)))]


def zip_bytes(members, token):
    """zip_bytes - a zip (stored members, so CRCs are fresh per message)"""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time=(2024, 5, 17, 9, 30, 0))
            zi.external_attr = 0o644 << 16
            z.writestr(zi, data.replace(PLACEHOLDER, token))
    return b.getvalue()


def b64_lines(data):
    """b64_lines - base64 in 76-character CRLF lines"""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


# ---------------------------------------------------------------- messages

class Shape:
    """Shape - the template of one (shape, size, seed): message() fills in
    the per-message token, Message-ID and binaries"""

    def __init__(self, shape, size, seed=1):
        if shape not in SHAPES:
            raise ValueError("unknown shape %r (one of %s)" % (shape, ", ".join(SHAPES)))
        self.shape, self.size, self.seed = shape, size, seed
        rng = random.Random(stable_seed("tollgate-bench", shape, size, seed))
        self.sender = NAMES[rng.randrange(len(NAMES))]
        self.rcpt = NAMES[rng.randrange(len(NAMES))]
        self.subject = sentence(rng).rstrip(".?!")[:60]
        self.date = "Fri, 17 May 2024 %02d:%02d:%02d +0200" % (rng.randrange(8, 18), rng.randrange(60),
                                                               rng.randrange(60))
        self.boundary = "=_bench_%08x" % rng.getrandbits(32)
        self.parts = []          # (headers text, body bytes, kind): kind "text", "b64", "zip"
        budget = max(512, size - 700)
        ph = PLACEHOLDER.decode("latin-1")
        if shape == "text":
            self.ctype = "text/plain; charset=us-ascii"
            self.single = (paragraphs(rng, budget - 60) + "\r\nRef " + ph + "\r\n").encode("latin-1")
        elif shape == "thread":
            self.ctype = "text/plain; charset=utf-8"
            self.subject = "Re: Re: " + self.subject
            a, b = NAMES[(NAMES.index(self.sender) + 1) % len(NAMES)], self.rcpt
            s = paragraphs(rng, budget // 6) + "\r\nRef " + ph + "\r\n\r\n-- \r\n%s\r\n\r\n" % self.sender
            s += "On Thu, 16 May 2024 at 17:%02d, %s wrote:\r\n" % (rng.randrange(60), a)
            s += paragraphs(rng, budget // 4, prefix="> ")
            s += "> \r\n> On Wed, 15 May 2024 at 09:%02d, %s wrote:\r\n" % (rng.randrange(60), b)
            s += paragraphs(rng, budget - len(s) - 200, prefix=">> ")
            self.single = s.encode("utf-8")
        elif shape == "html":
            self.ctype = 'multipart/alternative; boundary="%s"' % self.boundary
            self.subject = "Newsletter: " + self.subject
            txt = paragraphs(rng, budget * 3 // 10) + "Ref " + ph + "\r\n"
            self.parts = [("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit",
                           txt.encode("latin-1"), "text"),
                          ("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit",
                           html_body(rng, budget * 7 // 10).encode("latin-1"), "text")]
        else:
            self.ctype = 'multipart/mixed; boundary="%s"' % self.boundary
            note = paragraphs(rng, min(600, budget // 4)) + "Ref " + ph + "\r\n"
            raw = (budget - len(note)) * 57 // 78
            self.parts = [("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit",
                           note.encode("latin-1"), "text")]
            if shape == "pdf":
                self.parts.append(('Content-Type: application/pdf; name="statement.pdf"\r\n'
                                   'Content-Transfer-Encoding: base64\r\n'
                                   'Content-Disposition: attachment; filename="statement.pdf"',
                                   pdf_like(rng, raw), "b64"))
            elif shape == "zip":
                self.zip = zip_members(rng, raw)
                self.parts.append(('Content-Type: application/zip; name="documents.zip"\r\n'
                                   'Content-Transfer-Encoding: base64\r\n'
                                   'Content-Disposition: attachment; filename="documents.zip"',
                                   b"", "zip"))
            else:
                self.parts.append(('Content-Type: image/jpeg; name="IMG_%04d.jpg"\r\n'
                                   'Content-Transfer-Encoding: base64\r\n'
                                   'Content-Disposition: attachment; filename="IMG_%04d.jpg"'
                                   % ((rng.randrange(10000),) * 2), jpeg_like(rng, raw), "b64"))

    def token(self, nonce, index):
        """token - TOKEN_LEN bytes unique per (nonce, index)"""
        t = ("tgb%08x%013d" % (nonce & 0xffffffff, index)).encode()
        assert len(t) == TOKEN_LEN
        return t

    def message(self, index, nonce=0, sender="sender@bench.example.net", rcpt="user@example.com"):
        """message - message number index as bytes (CRLF, not dot-stuffed)"""
        tok = self.token(nonce, index)
        h = ("From: %s <%s>\r\nTo: %s <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@bench.example.net>\r\n"
             "MIME-Version: 1.0\r\nContent-Type: %s\r\n"
             % (self.sender, sender, self.rcpt, rcpt, self.subject, self.date, tok.decode(), self.ctype))
        if not self.parts:
            if self.ctype.startswith("text/plain"):
                h += "Content-Transfer-Encoding: 8bit\r\n"
            return h.encode() + b"\r\n" + self.single.replace(PLACEHOLDER, tok)
        out = [h.encode(), b"\r\nThis is a multi-part message in MIME format.\r\n"]
        bnd = self.boundary.encode()
        for hdr, body, kind in self.parts:
            out.append(b"\r\n--" + bnd + b"\r\n" + hdr.encode() + b"\r\n\r\n")
            if kind == "text":
                out.append(body.replace(PLACEHOLDER, tok))
            elif kind == "b64":
                out.append(b64_lines(body.replace(PLACEHOLDER, tok)))
            else:
                out.append(b64_lines(zip_bytes(self.zip, tok)))
        out.append(b"\r\n--" + bnd + b"--\r\n")
        return b"".join(out)


# ---------------------------------------------------------------- load client

class Client:
    """Client - one SMTP/LMTP connection sending messages in turn"""

    def __init__(self, host, port, lmtp, timeout):
        self.host, self.port, self.lmtp, self.timeout = host, port, lmtp, timeout
        self.sock, self.buf, self.pipelining = None, b"", False

    def reply(self):
        """reply - one (possibly multi-line) reply: (code, last line); a
        PIPELINING line in it sets self.pipelining (for LHLO/EHLO)"""
        while True:
            while b"\n" not in self.buf:
                if len(self.buf) > REPLY_LINE_MAX:
                    raise IOError("reply line too long")
                d = self.sock.recv(65536)
                if not d:
                    raise IOError("connection closed by the server")
                self.buf += d
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.rstrip(b"\r")
            if len(line) < 3 or not line[:3].isdigit():
                raise IOError("malformed reply %r" % line[:80])
            if line[4:].upper().strip() == b"PIPELINING":
                self.pipelining = True
            if line[3:4] != b"-":
                return int(line[:3]), line.decode("latin-1")

    def connect(self):
        self.close()
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf, self.pipelining = b"", False
        c, l = self.reply()
        if c != 220:
            raise IOError("greeting: %s" % l)
        self.sock.sendall(b"%s bench.example.net\r\n" % (b"LHLO" if self.lmtp else b"EHLO"))
        c, l = self.reply()
        if c != 250:
            raise IOError("LHLO/EHLO: %s" % l)

    def send(self, data, sender, rcpt):
        """send - one transaction; (accepted, reply of the dot or the refusal)"""
        cmds = [b"MAIL FROM:<%s> SIZE=%d\r\n" % (sender.encode(), len(data)),
                b"RCPT TO:<%s>\r\n" % rcpt.encode(), b"DATA\r\n"]
        if self.pipelining:
            self.sock.sendall(b"".join(cmds))
            rs = [self.reply() for _ in cmds]
        else:
            rs = []
            for c in cmds:
                self.sock.sendall(c)
                rs.append(self.reply())
                if rs[-1][0] >= 400:
                    break
        if len(rs) < 3 or rs[0][0] != 250 or rs[1][0] // 100 != 2 or rs[2][0] != 354:
            bad = next((r for r in rs if r[0] >= 400 or r[0] == 354 and r is not rs[-1]), rs[-1])
            if len(rs) == 3 and rs[2][0] == 354:
                self.sock.sendall(b".\r\n")
                self.reply()
            self.sock.sendall(b"RSET\r\n")
            self.reply()
            return False, bad[1]
        data = data.replace(b"\r\n.", b"\r\n..")
        if data.startswith(b"."):
            data = b"." + data
        self.sock.sendall(data + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        c, l = self.reply()
        return c // 100 == 2, l

    def close(self):
        if self.sock is not None:
            try:
                self.sock.sendall(b"QUIT\r\n")
                self.sock.settimeout(1)
                self.reply()
            except (OSError, IOError):
                pass
            self.sock.close()
            self.sock = None


def run_load(host, port, lmtp, conc, count, shape, first_index=0, nonce=0, timeout=60,
             sender="sender@bench.example.net", rcpt="user@example.com"):
    """run_load - count messages of shape over conc connections; a result dict"""
    lock = threading.Lock()
    state = {"next": 0, "sent": 0, "ok": 0, "errors": 0, "last_error": ""}

    def take():
        with lock:
            if state["next"] >= count:
                return None
            state["next"] += 1
            return first_index + state["next"] - 1

    def worker():
        cl = Client(host, port, lmtp, timeout)
        reconnects = 0
        i = take()
        while i is not None:
            try:
                if cl.sock is None:
                    cl.connect()
                ok, line = cl.send(shape.message(i, nonce, sender, rcpt), sender, rcpt)
                with lock:
                    state["sent"] += 1
                    state["ok"] += ok
                    if not ok:
                        state["errors"] += 1
                        state["last_error"] = line[:200]
                i = take()
            except (OSError, IOError) as e:
                with lock:
                    state["errors"] += 1
                    state["last_error"] = str(e)[:200]
                if cl.sock is not None:
                    cl.sock.close()
                    cl.sock = None
                reconnects += 1
                if reconnects > RECONNECTS_MAX:
                    return       # this message stays unsent: the count shows it
                time.sleep(0.05)
        cl.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(conc)]
    c0, t0 = time.process_time(), time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"messages": count, "sent": state["sent"], "delivered": state["ok"],
            "seconds": time.monotonic() - t0, "client_cpu_s": time.process_time() - c0,
            "errors": state["errors"], "last_error": state["last_error"],
            "shape": shape.shape, "size": shape.size}


def main(argv):
    ap = argparse.ArgumentParser(prog="corpus.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("sample", "send"):
        p = sub.add_parser(name)
        p.add_argument("--shape", choices=SHAPES, required=True)
        p.add_argument("--size", type=parse_size, default=4096)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--nonce", type=lambda s: int(s, 0), default=0, help="run id in every token")
    sub.choices["sample"].add_argument("--index", type=int, default=0)
    s = sub.choices["send"]
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--lmtp", action="store_true", help="LHLO instead of EHLO")
    s.add_argument("--conc", type=int, default=1)
    s.add_argument("--count", type=int, default=100)
    s.add_argument("--first-index", type=int, default=0, help="number of the first message")
    s.add_argument("--timeout", type=float, default=60, help="seconds per network wait")
    s.add_argument("--from", dest="sender", default="sender@bench.example.net")
    s.add_argument("--to", dest="rcpt", default="user@example.com")
    a = ap.parse_args(argv)
    if a.size < 256 or a.size > 64 << 20:
        ap.error("--size must be 256 bytes .. 64 MiB")
    shape = Shape(a.shape, a.size, a.seed)
    if a.cmd == "sample":
        sys.stdout.buffer.write(shape.message(a.index, a.nonce))
        return 0
    if not 1 <= a.conc <= 256 or not 1 <= a.count <= 1000000:
        ap.error("--conc 1..256, --count 1..1000000")
    r = run_load(a.host, a.port, a.lmtp, a.conc, a.count, shape, a.first_index, a.nonce, a.timeout,
                 a.sender, a.rcpt)
    print(json.dumps(r))
    sys.stdout.flush()
    return 0 if r["delivered"] == a.count else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
