#!/usr/bin/env python3
"""mkmsg.py - test messages for the tollgate scanning tests (t_scan.sh,
t_destiny.sh, t_sigreload.sh).

    mkmsg.py KIND --out FILE [--from A] [--to A]... [--subject S]
             [--message-id ID] [--attach PATH]...

KIND:
  clean          multipart/mixed: a text/plain part, a quoted-printable
                 text/html part and a base64 text attachment (notes.txt)
  eicar-plain    a single text/plain body holding the EICAR test string
  eicar-b64      multipart/mixed: text + base64 attachment eicar.com.txt
  eicar-nested   multipart/mixed: text + message/rfc822 whose own
                 multipart holds the base64 EICAR attachment
  eicar-zip      multipart/mixed: text + eicar.zip (EICAR inside a zip)
  banned-zip     multipart/mixed: text + docs.zip holding readme.exe
                 (harmless bytes; banned by its name only)
  attach         multipart/mixed: text + every --attach PATH as a base64
                 application/octet-stream part named by its basename
                 (e.g. the clamav-testfiles samples)

Every message has From, To, Date, Subject and Message-ID (no BAD-HEADER),
uses LF line ends (smtpclient.py makes them CRLF on the wire) and only
ASCII.  Output is deterministic for the same arguments (fixed boundaries,
fixed zip timestamps).
"""

import argparse
import base64
import io
import os
import sys
import zipfile

# the 68-byte EICAR test string, assembled so that this file itself is not
# detected as EICAR by a scanner looking at the source tree
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!" + b"$H+H*")
assert len(EICAR) == 68

TEXT = ("Hello,\n"
        "this is a test message of the tollgate integration tests.\n"
        ".a line with a leading dot\n"
        "Bye.\n")


def b64_lines(data):
    enc = base64.b64encode(data).decode("ascii")
    return "\n".join(enc[i:i + 76] for i in range(0, len(enc), 76)) + "\n"


def zip_bytes(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return buf.getvalue()


def headers(a, ctype=None, extra=()):
    h = ["From: Test Sender <%s>" % a.mail_from,
         "To: " + ", ".join("<%s>" % t for t in a.to),
         "Date: Thu, 01 Jan 2026 00:00:00 +0000",
         "Subject: %s" % a.subject,
         "Message-ID: <%s>" % a.message_id,
         "MIME-Version: 1.0"]
    if ctype:
        h.append("Content-Type: " + ctype)
    h += list(extra)
    return "\n".join(h) + "\n"


def text_part():
    return ("Content-Type: text/plain; charset=us-ascii\n"
            "Content-Transfer-Encoding: 7bit\n\n" + TEXT)


def b64_part(name, data, ctype="application/octet-stream"):
    return ("Content-Type: %s; name=\"%s\"\n"
            "Content-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename=\"%s\"\n\n" % (ctype, name, name)
            + b64_lines(data))


def multipart(boundary, parts, preamble="This is a multi-part message in MIME format.\n"):
    out = preamble + "\n"
    for p in parts:
        out += "--%s\n%s\n" % (boundary, p)
    return out + "--%s--\n" % boundary


def build(a):
    kind = a.kind
    if kind == "eicar-plain":
        return (headers(a, "text/plain; charset=us-ascii", ["Content-Transfer-Encoding: 7bit"])
                + "\n" + EICAR.decode("ascii") + "\n")
    mixed = 'multipart/mixed; boundary="=_tg_outer_0001"'
    if kind == "clean":
        html = ("Content-Type: text/html; charset=us-ascii\n"
                "Content-Transfer-Encoding: quoted-printable\n\n"
                "<html><body><p>Hello, this is the HTML alternative of a clean =\n"
                "message with a soft line break and an equals sign: 1 =3D 1.</p>\n"
                "</body></html>\n")
        alt = ('Content-Type: multipart/alternative; boundary="=_tg_alt_0002"\n\n'
               + multipart("=_tg_alt_0002", [text_part(), html], preamble=""))
        notes = "".join("line %03d of a harmless text attachment\n" % i for i in range(40))
        body = multipart("=_tg_outer_0001", [alt, b64_part("notes.txt", notes.encode(), "text/plain")])
        return headers(a, mixed) + "\n" + body
    if kind == "eicar-b64":
        parts = [text_part(), b64_part("eicar.com.txt", EICAR, "text/plain")]
    elif kind == "eicar-nested":
        inner_hdr = ("From: Inner Sender <inner@example.org>\n"
                     "To: <someone@example.org>\n"
                     "Date: Wed, 31 Dec 2025 23:00:00 +0000\n"
                     "Subject: forwarded inner message\n"
                     "Message-ID: <inner-%s>\n"
                     "MIME-Version: 1.0\n"
                     'Content-Type: multipart/mixed; boundary="=_tg_inner_0003"\n' % a.message_id)
        inner = inner_hdr + "\n" + multipart("=_tg_inner_0003", [text_part(), b64_part("eicar.com", EICAR)])
        parts = [text_part(),
                 "Content-Type: message/rfc822\n"
                 "Content-Disposition: attachment; filename=\"forwarded.eml\"\n\n" + inner]
    elif kind == "eicar-zip":
        parts = [text_part(), b64_part("eicar.zip", zip_bytes([("eicar.com", EICAR)]), "application/zip")]
    elif kind == "banned-zip":
        harmless = b"This is not a program, only a text that carries a banned name.\n" * 4
        parts = [text_part(), b64_part("docs.zip", zip_bytes([("readme.exe", harmless)]), "application/zip")]
    elif kind == "attach":
        if not a.attach:
            sys.exit("mkmsg: attach needs --attach PATH")
        parts = [text_part()]
        for p in a.attach:
            with open(p, "rb") as f:
                parts.append(b64_part(os.path.basename(p), f.read()))
    else:
        sys.exit("mkmsg: unknown kind %r" % kind)
    return headers(a, mixed) + "\n" + multipart("=_tg_outer_0001", parts)


def main():
    ap = argparse.ArgumentParser(description="write a test message")
    ap.add_argument("kind")
    ap.add_argument("--out", required=True)
    ap.add_argument("--from", dest="mail_from", default="sender@example.net")
    ap.add_argument("--to", action="append", default=[])
    ap.add_argument("--subject", default="tollgate scan test")
    ap.add_argument("--message-id", default="scan-test@example.net")
    ap.add_argument("--attach", action="append", default=[])
    a = ap.parse_args()
    if not a.to:
        a.to = ["rcpt@example.com"]
    with open(a.out, "w", newline="\n") as f:
        f.write(build(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
