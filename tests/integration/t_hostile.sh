#!/bin/bash
# t_hostile.sh - hostile clients on the LMTP and SMTP listeners (and the
# milter listener when there is one): the daemon answers with an error or
# closes the connection, never hangs, never crashes, and a normal message
# still passes afterwards (checked at the sink each time).
#   - a 100 KB command line (500 5.5.2 line too long; the session goes on)
#   - 20 KB of binary garbage with NUL bytes and bare CR/LF
#   - commands out of sequence (503s)
#   - 10,000 NOOPs in one write (all answered, or a clean close)
#   - 10,000 recipients: max_recipients = 1000 accepted, the rest 452 4.5.3,
#     the message goes to the 1000, the session goes on
#   - a header line that never ends (5 MB, under message_size_limit = 10m;
#     11 MB, over it: 552)
#   - MAIL ... SIZE=2 GiB (and a SIZE that overflows 64 bits): 552 5.3.4
#   - slow loris: max_servers = 2 held by two idle clients; smtpd_timeout = 5s
#     frees them and a third client is served within ~10 s. Two clients that
#     trickle one byte a second (never a line end) are bounded by
#     child_timeout (20 s here); the time is reported
#   - TLS: garbage instead of a ClientHello after STARTTLS, and a client that
#     goes silent after STARTTLS
#   - milter listener (when tollgated accepts listen = milter:...): random
#     bytes, a packet claiming 4 GiB, zero-length packets, a short OPTNEG
#   - inet_acl = 10.0.0.0/8, client 127.0.0.1: 554 5.7.1 and DENIED ACCESS
#   - privilege drop: the workers' uid is daemon_user's
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
require_cmd openssl openssl

cat >"$TG_TMP/hostile.py" <<'EOF'
"""hostile.py - hostile SMTP/LMTP clients for t_hostile.sh.

  hostile.py MODE HOST PORT [ARGS]     (ARGS after the port; --lmtp says LHLO)

Prints "key value" lines for the test to grep, and always "end eof",
"end done" or "end timeout" (the server neither answered nor closed within
the time limit: a hang), and "elapsed S".
Modes:
  longline N        a command line of N bytes, then NOOP
  garbage N SEED    N random bytes with NULs and bare CR/LF, then NOOP, QUIT
  sequence          commands out of sequence (RCPT/DATA/BDAT before MAIL, ...)
  flood N           N NOOPs in one write; counts the 250s
  rcpts N           MAIL, N RCPTs (pipelined 200 at a time), DATA, the dot
  bighdr N          a message whose first header line is N bytes long
  size N            MAIL FROM:<..> SIZE=N
  idle              read the greeting, then wait for the server to close
  trickle S         one byte every S seconds, never a line end
  tlsgarbage N      STARTTLS, then N random bytes instead of a ClientHello
  tlsstall          STARTTLS, then nothing
  normal ID         one clean message with Message-ID <ID>
"""
import os, random, socket, struct, sys, threading, time

LIMIT = float(os.environ.get("HOSTILE_TIMEOUT", "60"))


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, int(port)), timeout=LIMIT)
        self.s.settimeout(LIMIT)
        self.buf, self.eof = b"", False

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.eof = True
            return False

    def line(self):
        while b"\n" not in self.buf:
            if self.eof:
                return None
            try:
                c = self.s.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                c = b""
            if not c:
                self.eof = True
                if self.buf:
                    l, self.buf = self.buf, b""
                    return l
                return None
            self.buf += c
        l, self.buf = self.buf.split(b"\n", 1)
        return l

    def reply(self):
        """one reply: its lines, [] at EOF"""
        lines = []
        while True:
            l = self.line()
            if l is None:
                return lines
            l = l.rstrip(b"\r").decode("latin-1")
            lines.append(l)
            if len(l) < 4 or l[3] != "-":
                return lines

    def cmd(self, text):
        # a text with its own CRLF (BDAT and its chunk) is sent as it is
        self.send(text.encode("latin-1") + (b"" if "\r\n" in text else b"\r\n"))
        r = self.reply()
        return r[-1] if r else "<EOF>"


def out(k, v):
    print("%s %s" % (k, v), flush=True)


def drain(c, codes=None):
    """read replies until EOF; print the first 20; their last lines go
    to the list codes when one is given"""
    n = 0
    while True:
        r = c.reply()
        if not r:
            return n
        n += 1
        if codes is not None:
            codes.append(r[-1])
        if n <= 20:
            out("reply", r[-1])


def milter_packet(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


def milter(mode, c, args):
    """milter modes: the client speaks first, no greeting"""
    if mode == "milterok":
        # SMFIC_OPTNEG: version 6, all actions, no protocol steps left out
        c.send(milter_packet(b"O", struct.pack(">III", 6, 0x1ff, 0)))
        try:
            hdr = c.s.recv(5)
        except (ConnectionResetError, BrokenPipeError):
            hdr = b""
        out("optneg", hdr[4:5].decode("latin-1") if len(hdr) == 5 else "<EOF>")
        out("end", "done")
        return
    rnd = random.Random(int(args[0]) if args else 1)
    if mode == "miltergarbage":
        data = bytes(rnd.randrange(256) for _ in range(65536))
    elif mode == "milterhuge":       # a packet that claims 4 GiB
        data = b"\xff\xff\xff\xffO" + bytes(rnd.randrange(256) for _ in range(1000))
    elif mode == "milterzero":       # a packet of length 0 (no command byte)
        data = b"\x00\x00\x00\x00" * 16
    elif mode == "miltershort":      # OPTNEG with 3 bytes instead of 12, then a body before any connect
        data = milter_packet(b"O", b"\x00\x00\x06") + milter_packet(b"B", b"x" * 100) + milter_packet(b"E")
    else:
        sys.exit("hostile.py: unknown mode " + mode)
    t = threading.Thread(target=c.send, args=(data,))
    t.start()
    got = b""
    while True:
        try:
            d = c.s.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            d = b""
        if not d:
            break
        got += d
    t.join()
    out("received", len(got))
    out("end", "eof")


def main():
    mode, host, port = sys.argv[1], sys.argv[2], sys.argv[3]
    args = [a for a in sys.argv[4:] if a != "--lmtp"]
    hello = "LHLO" if "--lmtp" in sys.argv else "EHLO"
    t0 = time.time()
    c = Conn(host, port)
    try:
        if mode.startswith("milter"):
            milter(mode, c, args)
            return
        g = c.reply()
        out("greeting", g[-1] if g else "<EOF>")
        out("greeted", "%.1f" % (time.time() - t0))
        if not g or not g[-1].startswith("220"):
            drain(c)
            out("end", "eof")
            return
        run(mode, c, args, hello)
    except socket.timeout:
        out("end", "timeout")
    finally:
        out("elapsed", "%.1f" % (time.time() - t0))


def run(mode, c, args, hello):
    if mode == "longline":
        c.cmd(hello + " client.example.net")
        c.send(b"NOOP " + b"X" * int(args[0]) + b"\r\n")
        r = c.reply()
        out("reply", r[-1] if r else "<EOF>")
        out("after", c.cmd("NOOP") if not c.eof else "<EOF>")
        out("end", "eof" if c.eof else "done")
    elif mode == "garbage":
        rnd = random.Random(int(args[1]))
        data = bytes(rnd.choice([0, 0, 13, 10, rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)])
                     for _ in range(int(args[0])))
        c.cmd(hello + " client.example.net")
        # a writer thread: the server may answer while we still write
        t = threading.Thread(target=c.send, args=(data + b"\r\nNOOP\r\nQUIT\r\n",))
        t.start()
        codes = []
        n = drain(c, codes)
        t.join()
        out("replies", n)
        # the 250 to our NOOP and the 221 to our QUIT may end the list;
        # no other reply to the garbage may be a 2xx
        if codes and codes[-1].startswith("221"):
            codes.pop()
        if codes and codes[-1].startswith("250"):
            codes.pop()
        out("garbage2xx", sum(1 for r in codes if r.startswith("2")))
        out("end", "eof")
    elif mode == "sequence":
        c.cmd(hello + " client.example.net")
        for text in ("RCPT TO:<a@example.com>", "DATA", "BDAT 4 LAST\r\nabcd", "MAIL FROM:<a@example.net>",
                     "MAIL FROM:<b@example.net>", "DATA", hello + " again.example.net",
                     "RCPT TO:<c@example.com>", "AUTH PLAIN AGFhAGI=", "XFORWARD ADDR=1.2.3.4",
                     "RSET", "DATA", "NOOP"):
            out("cmd", "%s => %s" % (text.replace("\r\n", "<CRLF>"), c.cmd(text)))
            if c.eof:
                break
        out("end", "eof" if c.eof else "done")
    elif mode == "flood":
        n = int(args[0])
        c.cmd(hello + " client.example.net")
        t = threading.Thread(target=c.send, args=(b"NOOP\r\n" * n,))
        t.start()
        ok = other = 0
        while ok + other < n:
            r = c.reply()
            if not r:
                break
            if r[-1].startswith("250"):
                ok += 1
            else:
                other += 1
                if other <= 5:
                    out("reply", r[-1])
        t.join()
        out("ok", ok)
        out("other", other)
        if not c.eof:
            out("quit", c.cmd("QUIT"))
        out("end", "eof" if c.eof and ok + other < n else "done")
    elif mode == "rcpts":
        n = int(args[0])
        mid = args[1] if len(args) > 1 else "rcpts@example.net"
        c.cmd(hello + " client.example.net")
        out("mail", c.cmd("MAIL FROM:<rcpts@example.net>"))
        ok = tmp = other = 0
        codes = {}
        i = 0
        while i < n and not c.eof:
            k = min(200, n - i)
            c.send(b"".join(b"RCPT TO:<r%d@example.com>\r\n" % (i + j) for j in range(k)))
            for _ in range(k):
                r = c.reply()
                if not r:
                    break
                code = r[-1][:9]
                codes[code] = codes.get(code, 0) + 1
                if r[-1].startswith("250"):
                    ok += 1
            i += k
        for code in sorted(codes):
            out("rcpt", "%s x%d" % (code, codes[code]))
        out("accepted", ok)
        out("data", c.cmd("DATA"))
        c.send(("From: <rcpts@example.net>\r\nTo: <r0@example.com>\r\nSubject: many\r\n"
                "Message-ID: <%s>\r\n\r\nmany recipients\r\n.\r\n" % mid).encode())
        finals = {}
        for _ in range(ok if hello == "LHLO" else 1):
            r = c.reply()
            if not r:
                break
            finals[r[-1][:9]] = finals.get(r[-1][:9], 0) + 1
        for code in sorted(finals):
            out("final", "%s x%d" % (code, finals[code]))
        out("after", c.cmd("NOOP"))
        out("end", "eof" if c.eof else "done")
    elif mode == "bighdr":
        n = int(args[0])
        mid = args[1] if len(args) > 1 else "bighdr@example.net"
        c.cmd(hello + " client.example.net")
        c.cmd("MAIL FROM:<bighdr@example.net>")
        c.cmd("RCPT TO:<bighdr@example.com>")
        out("data", c.cmd("DATA"))
        body = (b"X-Endless: " + b"a" * n + b"\r\nMessage-ID: <" + mid.encode() +
                b">\r\nSubject: endless header\r\n\r\nbody\r\n.\r\n")
        t = threading.Thread(target=c.send, args=(body,))
        t.start()
        r = c.reply()
        t.join()
        out("final", r[-1] if r else "<EOF>")
        out("after", c.cmd("NOOP") if not c.eof else "<EOF>")
        out("end", "eof" if c.eof else "done")
    elif mode == "size":
        c.cmd(hello + " client.example.net")
        out("mail", c.cmd("MAIL FROM:<size@example.net> SIZE=%s" % args[0]))
        out("after", c.cmd("NOOP"))
        out("end", "eof" if c.eof else "done")
    elif mode == "idle":
        drain(c)
        out("end", "eof")
    elif mode == "trickle":
        every = float(args[0])
        while True:
            time.sleep(every)
            if not c.send(b"N"):
                break
            c.s.setblocking(False)
            try:
                d = c.s.recv(4096)
                if d:
                    out("reply", d.decode("latin-1").strip())
                else:
                    break
            except BlockingIOError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                break
            finally:
                c.s.setblocking(True)
                c.s.settimeout(LIMIT)
        out("end", "eof")
    elif mode in ("tlsgarbage", "tlsstall"):
        c.cmd(hello + " client.example.net")
        r = c.cmd("STARTTLS")
        out("starttls", r)
        if not r.startswith("220"):
            out("end", "done")
            return
        if mode == "tlsgarbage":
            rnd = random.Random(7)
            c.send(b"\x16\x03\x01\x00\x10" + bytes(rnd.randrange(256) for _ in range(int(args[0]))))
        got = b""
        while True:
            try:
                d = c.s.recv(4096)
            except (ConnectionResetError, BrokenPipeError):
                d = b""
            if not d:
                break
            got += d
        out("received", len(got))
        out("end", "eof")
    elif mode == "normal":
        mid = args[0]
        lmtp = hello == "LHLO"
        c.cmd(hello + " client.example.net")
        out("mail", c.cmd("MAIL FROM:<normal@example.net>"))
        out("rcpt", c.cmd("RCPT TO:<normal@example.com>"))
        out("data", c.cmd("DATA"))
        c.send(("From: <normal@example.net>\r\nTo: <normal@example.com>\r\nSubject: normal\r\n"
                "Message-ID: <%s>\r\n\r\na normal message\r\n.\r\n" % mid).encode())
        r = c.reply()
        out("final", r[-1] if r else "<EOF>")
        out("quit", c.cmd("QUIT"))
        out("end", "done")
    else:
        sys.exit("hostile.py: unknown mode " + mode)


if __name__ == "__main__":
    main()
EOF

# H MODE PORT [ARGS...] - run a hostile client against 127.0.0.1:PORT
H() { local mode=$1 port=$2; shift 2; "$PYTHON" "$TG_TMP/hostile.py" "$mode" 127.0.0.1 "$port" "$@"; }
# field KEY - the value of the first "KEY value" line of stdin
field() { sed -n "s/^$1 //p" | head -n 1; }
# fields KEY - every value of "KEY value" lines, joined by " | "
fields() { sed -n "s/^$1 //p" | paste -sd'|' | sed 's/|/ | /g'; }
# no_hang OUT DESC - the client saw an answer or a close, not a timeout
no_hang() {
	local end; end=$(printf '%s\n' "$1" | field end)
	if [ "$end" = eof ] || [ "$end" = 'done' ]; then ok "$2 (end: $end, $(printf '%s\n' "$1" | field elapsed) s)"
	else not_ok "$2"; diag "the client timed out (a hang):" "$1"; fi
}

N_NORMAL=0
# still_serves LABEL - a normal message through LMTP and SMTP alternately
# reaches the sink; the master is alive with max_servers workers
still_serves() {
	local id port lmtp='' out final
	N_NORMAL=$((N_NORMAL + 1))
	id="after-$N_NORMAL-$$@example.net"
	if [ $((N_NORMAL % 2)) = 1 ]; then port=$LPORT lmtp=--lmtp; else port=$SPORT; fi
	out=$(HOSTILE_TIMEOUT=30 H normal "$port" "$id" $lmtp)
	final=$(printf '%s\n' "$out" | field final)
	wait_until '[ "$(sink_count_grep "^Message-ID: <$id>")" -ge 1 ]' 15
	if pid_alive "$TG_PID" && [[ $final == 250* ]] && [ "$(sink_count_grep "^Message-ID: <$id>")" = 1 ] &&
	   wait_until '[ "$(tollgated_worker_count)" -eq 2 ]' 10; then
		ok "after $1: a normal message still passes ($([ -n "$lmtp" ] && echo LMTP || echo SMTP), at the sink once)"
	else
		not_ok "after $1: a normal message still passes"
		diag "$out" "master alive: $(pid_alive "$TG_PID" && echo yes || echo no), workers: $(tollgated_worker_count), at the sink: $(sink_count_grep "^Message-ID: <$id>")"
	fi
}

start_sink
CERT=$(tls_test_cert) || bail_out "openssl could not make a test certificate"
LPORT=$(free_port) || bail_out "no free port"
SPORT=$(free_port) || bail_out "no free port"
MPORT=$(free_port) || bail_out "no free port"
TG_LMTP_PORT=$LPORT
conf() {
	printf '%s\n' "listen = lmtp:127.0.0.1:$LPORT, smtp:127.0.0.1:$SPORT$1" \
		"forward_method = smtp:[127.0.0.1]:$SINK_PORT" "max_servers = 2" "smtpd_timeout = 5s" \
		"child_timeout = 20s" "max_recipients = 1000" "message_size_limit = 10m" \
		"smtpd_tls_cert_file = $CERT" "smtpd_tls_key_file = ${CERT%.pem}.key" "daemon_user = nobody"
}
# does this tollgated take a milter listener? (tollgated -t checks the file)
MILTER=
conf ", milter:127.0.0.1:$MPORT" >"$TG_TMP/milter-try.conf"
"$TOLLGATED" -t -c "$TG_TMP/milter-try.conf" >"$TG_TMP/milter-try.log" 2>&1 && MILTER=", milter:127.0.0.1:$MPORT"

plan 61
start_tollgated "$(conf "$MILTER")"
wait_until '[ "$(tollgated_worker_count)" -eq 2 ]' 10

# --- privilege drop
w=$(tollgated_workers | head -n 1)
is "$(awk '/^Uid:/ {print $2 "/" $3 "/" $4 "/" $5}' "/proc/$w/status")" "$(id -u nobody)/$(id -u nobody)/$(id -u nobody)/$(id -u nobody)" \
	"worker $w runs as daemon_user nobody (real/effective/saved/fs uid)"
is "$(awk '/^Uid:/ {print $2}' "/proc/$TG_PID/status")" 0 "the master stays root"
still_serves "start"

# --- overlong lines
for p in "LMTP $LPORT --lmtp" "SMTP $SPORT"; do
	set -- $p ""
	out=$(H longline "$2" 100000 $3)
	like "$(printf '%s\n' "$out" | field reply) / $(printf '%s\n' "$out" | field after)" '^500 5\.5\.2 .*too long / 250 ' \
		"$1: a 100 KB command line: 500 5.5.2 line too long, and the session goes on (NOOP 250)"
done
still_serves "100 KB lines"

# --- binary garbage
for p in "LMTP $LPORT --lmtp" "SMTP $SPORT"; do
	set -- $p ""
	out=$(H garbage "$2" 20000 $$ $3)
	no_hang "$out" "$1: 20 KB of binary garbage with NULs: answered or closed ($(printf '%s\n' "$out" | field replies) replies)"
	is "$(printf '%s\n' "$out" | field garbage2xx)" 0 "$1: no reply to the garbage is a 2xx (but the NOOP/QUIT after it)"
done
still_serves "binary garbage"

# --- commands out of sequence
for p in "LMTP $LPORT --lmtp LHLO" "SMTP $SPORT '' EHLO"; do
	eval set -- $p ""
	out=$(H sequence "$2" $3)
	like "$(printf '%s\n' "$out" | fields cmd)" \
		"^RCPT TO:<a@example.com> => 503 5\.5\.1 .* \| DATA => 503 5\.5\.1 .* \| BDAT 4 LAST<CRLF>abcd => 5[0-9][0-9] .* \| MAIL FROM:<a@example.net> => 250 .* \| MAIL FROM:<b@example.net> => 503 5\.5\.1 .* \| DATA => 503 5\.5\.1 .* \| $4 again.example.net => 250 .* \| RCPT TO:<c@example.com> => 503 5\.5\.1 .* \| AUTH PLAIN AGFhAGI= => 5[0-9][0-9] .* \| XFORWARD ADDR=1\.2\.3\.4 => 250 .* \| RSET => 250 .* \| DATA => 503 5\.5\.1 .* \| NOOP => 250 " \
		"$1: out of sequence: RCPT/DATA/BDAT before MAIL, nested MAIL, DATA before RCPT, RCPT after a new $4: 503 each; the session goes on"
done
still_serves "commands out of sequence"

# --- a pipelining flood
for p in "LMTP $LPORT --lmtp" "SMTP $SPORT"; do
	set -- $p ""
	out=$(H flood "$2" 10000 $3)
	n=$(printf '%s\n' "$out" | field ok); end=$(printf '%s\n' "$out" | field end)
	if [ "$end" != timeout ] && { [ "$n" = 10000 ] || [ "$end" = eof ]; }; then
		ok "$1: 10,000 NOOPs in one write: $n answered 250, then $end ($(printf '%s\n' "$out" | field elapsed) s)"
	else not_ok "$1: 10,000 NOOPs in one write: all answered or a clean close"; diag "$out"; fi
done
still_serves "a NOOP flood"

# --- 10,000 recipients
for p in "LMTP $LPORT --lmtp 1000" "SMTP $SPORT '' 1"; do
	eval set -- $p ""
	id="rcpts-$1-$$@example.net"
	out=$(H rcpts "$2" 10000 "$id" $3)
	is "$(printf '%s\n' "$out" | fields rcpt) / $(printf '%s\n' "$out" | fields final) / $(printf '%s\n' "$out" | field after)" \
		"250 2.1.5 x1000 | 452 4.5.3 x9000 / 250 2.0.0 x$4 / 250 2.0.0 Ok NOOP" \
		"$1: 10,000 RCPTs: 1000 accepted (max_recipients), 9000 × 452 4.5.3; the message is accepted, the session goes on"
	wait_until '[ "$(sink_count_grep "^Message-ID: <$id>")" -ge 1 ]' 20
	f=$(sink_grep "^Message-ID: <$id>" | head -n 1)
	is "$(sink_count_grep "^Message-ID: <$id>")/$(grep -c '^X-Rcpt-Args:' "${f:-/dev/null}")" "1/1000" "$1: the sink got the message once, for the 1000 accepted recipients"
done
still_serves "10,000 recipients"

# --- a header that never ends
for p in "LMTP $LPORT --lmtp" "SMTP $SPORT"; do
	set -- $p ""
	out=$(HOSTILE_TIMEOUT=90 H bighdr "$2" 5000000 "bighdr-$1-$$@example.net" $3)
	# under the limit the message is the client's business: accepted and
	# forwarded once, as amavisd-new does (the next SMTP hop may refuse it)
	wait_until '[ "$(sink_count_grep "^Message-ID: <bighdr-$1-$$@")" -ge 1 ]' 20
	like "$(printf '%s\n' "$out" | field final) / at the sink $(sink_count_grep "^Message-ID: <bighdr-$1-$$@")" '^250 .* / at the sink 1$' \
		"$1: a 5 MB header line (under message_size_limit): 250 and forwarded once ($(printf '%s\n' "$out" | field final | cut -c1-60))"
	out=$(HOSTILE_TIMEOUT=90 H bighdr "$2" 11000000 "bighdr11-$1-$$@example.net" $3)
	like "$(printf '%s\n' "$out" | field final)" '^552 5\.3\.4 ' "$1: an 11 MB header line (over message_size_limit = 10m): 552 5.3.4"
done
is "$(sink_count_grep "^Message-ID: <bighdr11-")" 0 "nothing of the 11 MB messages reached the sink"
still_serves "an endless header"

# --- declared SIZE
for p in "LMTP $LPORT --lmtp" "SMTP $SPORT"; do
	set -- $p ""
	out=$(H size "$2" 2147483648 $3)
	like "$(printf '%s\n' "$out" | field mail) / $(printf '%s\n' "$out" | field after)" '^552 5\.3\.4 .* / 250 ' \
		"$1: MAIL FROM SIZE=2147483648 with message_size_limit = 10m: 552 5.3.4, the session goes on"
	out=$(H size "$2" 99999999999999999999999 $3)
	like "$(printf '%s\n' "$out" | field mail)" '^5[0-9][0-9] ' "$1: a SIZE that overflows 64 bits: a 5xx, not 250 ($(printf '%s\n' "$out" | field mail))"
done
still_serves "SIZE=2 GiB"

# --- slow loris: idle clients hold both workers
# (started without the H function, so that $! is the python client itself)
HP="$PYTHON $TG_TMP/hostile.py"
$HP idle 127.0.0.1 "$SPORT" >"$TG_TMP/idle1.out" 2>&1 &
i1=$!; tg_track "$i1"
$HP idle 127.0.0.1 "$LPORT" --lmtp >"$TG_TMP/idle2.out" 2>&1 &
i2=$!; tg_track "$i2"
wait_until 'grep -q greeting "$TG_TMP/idle1.out" && grep -q greeting "$TG_TMP/idle2.out"' 10
out=$(HOSTILE_TIMEOUT=40 H normal "$SPORT" "loris-3-$$@example.net")
g=$(printf '%s\n' "$out" | field greeted)
if [ -n "$g" ] && [[ $(printf '%s\n' "$out" | field final) == 250* ]] && awk -v g="$g" 'BEGIN { exit !(g <= 10.5) }'; then
	ok "two idle clients hold max_servers = 2: a third client is greeted after $g s (smtpd_timeout = 5s) and its message accepted"
else not_ok "a third client is served within ~10 s while two idle clients hold the workers"; diag "$out"; fi
wait_gone 15 "$i1" "$i2"
like "$(cat "$TG_TMP/idle1.out" "$TG_TMP/idle2.out" | fields reply)" '^421 4\.4\.2 .*timeout.* \| 421 4\.4\.2 .*timeout' \
	"the idle clients got 421 4.4.2 timeout after $(field elapsed <"$TG_TMP/idle1.out") s / $(field elapsed <"$TG_TMP/idle2.out") s"
kill "$i1" "$i2" 2>/dev/null; tg_untrack "$i1"; tg_untrack "$i2"
still_serves "idle slow-loris clients"

# ... trickling clients: one byte a second, never a line end. smtpd_timeout
# (5s) is never reached by a single read; the session must still be bounded
# (by a per-command deadline, or at the latest by child_timeout = 20s)
$HP trickle 127.0.0.1 "$SPORT" 1 >"$TG_TMP/trickle1.out" 2>&1 &
t1=$!; tg_track "$t1"
$HP trickle 127.0.0.1 "$LPORT" 1 --lmtp >"$TG_TMP/trickle2.out" 2>&1 &
t2=$!; tg_track "$t2"
wait_until 'grep -q greeting "$TG_TMP/trickle1.out" && grep -q greeting "$TG_TMP/trickle2.out"' 10
out=$(HOSTILE_TIMEOUT=40 H normal "$SPORT" "trickle-3-$$@example.net")
g=$(printf '%s\n' "$out" | field greeted)
if [ -n "$g" ] && [[ $(printf '%s\n' "$out" | field final) == 250* ]] && awk -v g="$g" 'BEGIN { exit !(g <= 35) }'; then
	ok "two trickling clients (1 byte/s, no line end) hold both workers: a third client is greeted after $g s (bound: child_timeout = 20s)"
else
	not_ok "two trickling clients (1 byte/s, no line end) hold both workers: a third client is served within child_timeout"
	diag "$out" "workers: $(for p in $(tollgated_workers); do printf '%s (%s) ' "$p" "$(proc_title "$p" | tr -s ' ')"; done)"
fi
kill "$t1" "$t2" 2>/dev/null; wait_gone 10 "$t1" "$t2"; tg_untrack "$t1"; tg_untrack "$t2"
still_serves "trickling slow-loris clients"

# --- TLS handshake garbage
for p in "LMTP $LPORT --lmtp" "SMTP $SPORT"; do
	set -- $p ""
	out=$(HOSTILE_TIMEOUT=30 H tlsgarbage "$2" 5000 $3)
	if [[ $(printf '%s\n' "$out" | field starttls) == 220* ]] && [ "$(printf '%s\n' "$out" | field end)" = eof ] &&
	   awk -v e="$(printf '%s\n' "$out" | field elapsed)" 'BEGIN { exit !(e <= 6) }'; then
		ok "$1: garbage instead of a ClientHello after STARTTLS 220: closed after $(printf '%s\n' "$out" | field elapsed) s"
	else not_ok "$1: garbage after STARTTLS: the connection is closed"; diag "$out"; fi
	out=$(HOSTILE_TIMEOUT=30 H tlsstall "$2" $3)
	if [ "$(printf '%s\n' "$out" | field end)" = eof ] && awk -v e="$(printf '%s\n' "$out" | field elapsed)" 'BEGIN { exit !(e <= 11) }'; then
		ok "$1: silent after STARTTLS 220: closed after $(printf '%s\n' "$out" | field elapsed) s (smtpd_timeout = 5s)"
	else not_ok "$1: silent after STARTTLS: closed within ~smtpd_timeout"; diag "$out"; fi
done
like "$(tg_log_count 'STARTTLS from \[127\.0\.0\.1\] failed')" '^[1-9]' "the failed handshakes are logged (warning: ... STARTTLS from [127.0.0.1] failed: ...)"
still_serves "TLS garbage"

# --- milter listener
# (the milter listener is a feature, not an option: without it these fail)
if [ -z "$MILTER" ]; then
	for k in 1 2 3 4 5; do not_ok "milter listener: garbage $k: tollgated refused listen = milter:..."; done
	diag_file "$TG_TMP/milter-try.log" 5 "tollgated -t with a milter listener"
elif [ "$(H milterok "$MPORT" | field optneg)" != O ]; then
	for k in 1 2 3 4 5; do not_ok "milter listener: garbage $k: a valid SMFIC_OPTNEG is not answered"; done
else
	for m in miltergarbage milterhuge milterzero miltershort; do
		out=$(HOSTILE_TIMEOUT=30 H "$m" "$MPORT" $$)
		no_hang "$out" "milter: $m: the connection is closed"
	done
	is "$(H milterok "$MPORT" | field optneg)" O "milter: a valid SMFIC_OPTNEG is still answered afterwards"
fi
still_serves "milter garbage"

# --- AM.PDP and control sockets: garbage, an endless line, too many attributes
stop_tollgated
start_tollgated "$(conf "$MILTER, ampdp:unix:$TG_TMP/ampdp.sock")"
wait_until '[ -S "$TG_TMP/ampdp.sock" ] && [ "$(tollgated_worker_count)" -eq 2 ]' 10
# unixpoke SOCKET MODE - send something hostile, report how it ended
unixpoke() {
	"$PYTHON" - "$1" "$2" <<'PY'
import os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(path)
if mode == "garbage":
    data = os.urandom(20000) + b"\0" * 100 + b"\n\n"
elif mode == "longline":
    data = b"request=AM.PDP\n" + b"sender=<" + b"x" * 200000
elif mode == "attrs":
    data = b"request=AM.PDP\n" + b"".join(b"recipient=<r%d@example.com>\n" % i for i in range(5000)) + b"\n"
else:
    data = b"status" + b"x" * 5000 + b"\n"
t0 = time.time()
try:
    s.sendall(data)
    got = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    print("end eof", round(time.time() - t0, 1), got[:120].replace(b"\n", b" ").decode("latin-1"))
except socket.timeout:
    print("end timeout")
except OSError as e:
    print("end eof", e)
PY
}
for m in garbage longline attrs; do
	out=$(unixpoke "$TG_TMP/ampdp.sock" "$m")
	like "$out" '^end eof' "AM.PDP: $m: answered or closed, no hang ($(printf '%.80s' "$out"))"
done
# (what the server sent follows "end eof SECS": match the reply, not our own words)
like "$(unixpoke "$TG_TMP/ampdp.sock" attrs)" '^end eof [0-9.]+ setreply=450 4\.5\.0 Failure:%20too%20many%20recipients' \
	"AM.PDP: a request over the attribute limit is refused (setreply=450 4.5.0 tempfail)"
out=$(unixpoke "$TG_TMP/tollgated.ctl" ctlgarbage)
like "$out" '^end eof' "control socket: a 5 KB request line is refused or closed, no hang"
check "the master is alive after the control socket garbage" pid_alive "$TG_PID"
still_serves "AM.PDP and control socket garbage"

# --- a client from an address outside inet_acl
stop_tollgated
start_tollgated "$(conf "")
inet_acl = 10.0.0.0/8"
for p in "LMTP $LPORT --lmtp" "SMTP $SPORT"; do
	set -- $p ""
	out=$(HOSTILE_TIMEOUT=15 H idle "$2" $3)
	like "$(printf '%s\n' "$out" | field greeting) / $(printf '%s\n' "$out" | field end)" '^554 5\.7\.1 .* / eof' \
		"$1: inet_acl = 10.0.0.0/8, client 127.0.0.1: 554 5.7.1, then closed"
done
is "$(tg_log_count 'DENIED ACCESS from IP 127\.0\.0\.1')" 2 "two DENIED ACCESS from IP 127.0.0.1 log lines"
stop_tollgated
start_tollgated "$(conf "$MILTER")"
wait_until '[ "$(tollgated_worker_count)" -eq 2 ]' 10
still_serves "inet_acl"
