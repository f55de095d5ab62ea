#!/bin/bash
# t_protocol.sh - SMTP and LMTP dialogues straight with tollgated (no
# Postfix; tollgated forwards to an smtp-sink): greeting, EHLO/LHLO, the
# small commands as amavisd-new answers them (product "tollgate"), command
# order errors, an overlong line, pipelining, BDAT, a 50 MB message byte for
# byte, and message_size_limit.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 30
start_sink
TG_SMTP_PORT=$(free_port) || bail_out "no free port"
TG_LMTP_PORT=$(free_port) || bail_out "no free port"
LISTEN="listen = smtp:127.0.0.1:$TG_SMTP_PORT, lmtp:127.0.0.1:$TG_LMTP_PORT"
start_tollgated "$LISTEN
forward_method = smtp:[127.0.0.1]:$SINK_PORT"

# dialogue - run a script against a port; the transcript on stdout
dialogue() { local port=$1; shift; $SMTPCLIENT script 127.0.0.1 "$port" "$@"; }
# replies_after - server lines after the client line matching ERE, up to the next client line
replies_after() { awk -v rx="$2" 'f && /^C: / { exit } f { print } $0 ~ rx && /^C: / { f = 1 }' <<<"$1"; }
# cap_list - the capability lines of a transcript, joined
EHLO_WANT='S: 250-[127.0.0.1]|S: 250-VRFY|S: 250-PIPELINING|S: 250-SIZE|S: 250-ENHANCEDSTATUSCODES|S: 250-8BITMIME|S: 250-SMTPUTF8|S: 250-DSN|S: 250-CHUNKING|S: 250 XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE'
joined() { sed 's/ *$//' | paste -sd'|'; }
ok_sink_msg() { wait_until "[ \"\$(sink_count_grep '$1')\" -ge 1 ]" "${2:-20}"; }

# --- SMTP: greeting, EHLO and the small commands
out=$(dialogue "$TG_SMTP_PORT" <<'EOS'
<
= EHLO client.example.net
= HELO client.example.net
= NOOP
= VRFY user1@example.com
= HELP
= FOOBAR
= RSET
= RCPT TO:<user1@example.com>
= DATA
= QUIT
EOS
)
is "$(sed -n 1p <<<"$out")" "S: 220 [127.0.0.1] ESMTP tollgate service ready" "SMTP greeting"
# SIZE may carry the limit ("250-SIZE 67108864"): compare without its argument
is "$(replies_after "$out" '^C: EHLO' | sed 's/^S: 250-SIZE [0-9]*$/S: 250-SIZE/' | joined)" "$EHLO_WANT" "EHLO capabilities, in order"
is "$(replies_after "$out" '^C: HELO')" "S: 250 [127.0.0.1]" "HELO"
is "$(replies_after "$out" '^C: NOOP')" "S: 250 2.0.0 Ok NOOP" "NOOP"
is "$(replies_after "$out" '^C: VRFY')" "S: 252 2.0.0 Argument not checked" "VRFY"
like "$(replies_after "$out" '^C: HELP' | tail -n 1)" '^S: 214 ' "HELP gets 214"
is "$(replies_after "$out" '^C: FOOBAR')" "S: 500 5.5.2 Error: command FOOBAR not recognized" "unknown command"
is "$(replies_after "$out" '^C: RSET')" "S: 250 2.0.0 Ok RSET" "RSET"
is "$(replies_after "$out" '^C: RCPT')" "S: 503 5.5.1 Need MAIL command before RCPT" "RCPT before MAIL"
is "$(replies_after "$out" '^C: DATA')" "S: 503 5.5.1 Need MAIL command before DATA" "DATA before MAIL"
is "$(replies_after "$out" '^C: QUIT')" "S: 221 2.0.0 [127.0.0.1] tollgate closing transmission channel" "QUIT"

# --- LMTP greeting and LHLO
out=$(dialogue "$TG_LMTP_PORT" <<'EOS'
<
= LHLO client.example.net
= QUIT
EOS
)
is "$(sed -n 1p <<<"$out")" "S: 220 [127.0.0.1] LMTP tollgate service ready" "LMTP greeting"
is "$(replies_after "$out" '^C: LHLO' | sed 's/^S: 250-SIZE [0-9]*$/S: 250-SIZE/' | joined)" "$EHLO_WANT" "LHLO capabilities, in order"

# --- an overlong command line (10000 bytes): one 500, the session goes on
out=$(dialogue "$TG_SMTP_PORT" <<'EOS'
<
= EHLO client.example.net
pad 10000 NOOP 
<
= NOOP
= QUIT
EOS
)
like "$(replies_after "$out" '^C: NOOP X' | head -n 1)" '^S: 500 ' "10000-byte command line gets 500"
is "$(replies_after "$out" '^C: NOOP$')" "S: 250 2.0.0 Ok NOOP" "the session continues after it (next reply belongs to NOOP)"

# --- pipelining: MAIL, RCPT, RCPT, DATA in one write; then message + QUIT in one write
printf 'From: <sender@example.net>\nSubject: pipelined\nMessage-ID: <pipe-%s@example.net>\n\npipelined body\n.dot line\n' $$ >"$TG_TMP/pipe.eml"
out=$(dialogue "$TG_SMTP_PORT" <<EOS
<
= EHLO client.example.net
raw MAIL FROM:<sender@example.net> BODY=8BITMIME\\r\\nRCPT TO:<user1@example.com>\\r\\nRCPT TO:<user2@example.com>\\r\\nDATA\\r\\n
<4
data $TG_TMP/pipe.eml
> QUIT
<2
EOS
)
is "$(replies_after "$out" '^C: DATA$' | joined)" \
	"S: 250 2.1.0 Sender <sender@example.net> OK|S: 250 2.1.5 Recipient <user1@example.com> OK|S: 250 2.1.5 Recipient <user2@example.com> OK|S: 354 End data with <CR><LF>.<CR><LF>" \
	"pipelined MAIL/RCPT/RCPT/DATA answered in order"
is "$(replies_after "$out" '^C: QUIT$' | joined)" \
	"S: 250 2.0.0 from MTA(smtp:[127.0.0.1]:$SINK_PORT): 250 2.0.0 Ok|S: 221 2.0.0 [127.0.0.1] tollgate closing transmission channel" \
	"pipelined end of data + QUIT answered in order"
ok_sink_msg "pipe-$$@"
f=$(sink_grep "pipe-$$@" | head -n 1)
is "$( [ -n "$f" ] && $SMTPCLIENT bodyhash --sink "$f")" "$($SMTPCLIENT bodyhash "$TG_TMP/pipe.eml")" "pipelined message arrived with its body intact"
is "$( [ -n "$f" ] && grep -h '^X-Rcpt-Args:' "$f" | cut -d' ' -f2 | joined)" "<user1@example.com>|<user2@example.com>" "both recipients forwarded"

# --- BDAT (CHUNKING): 3 chunks of 100 bytes and a LAST one
{ printf 'From: <sender@example.net>\r\nSubject: bdat\r\nMessage-ID: <bdat-%s@example.net>\r\n\r\n' $$
  for i in $(seq 1 12); do printf 'bdat line %02d with some padding text to make it longer\r\n' "$i"; done
  printf '.a line with a leading dot (no stuffing in BDAT)\r\n'; } >"$TG_TMP/bdat.eml"
out=$(dialogue "$TG_SMTP_PORT" <<EOS
<
= EHLO client.example.net
= MAIL FROM:<sender@example.net>
= RCPT TO:<user1@example.com>
bdat $TG_TMP/bdat.eml 200
<
= QUIT
EOS
)
chunks=$(grep -c '^C: BDAT [0-9]*$' <<<"$out")
is "$(grep -A1 '^C: BDAT [0-9]*$' <<<"$out" | grep -c '^S: 250 ')" "$chunks" "each non-LAST BDAT chunk gets 250 ($chunks chunks)"
is "$(replies_after "$out" '^C: BDAT [0-9]* LAST')" "S: 250 2.0.0 from MTA(smtp:[127.0.0.1]:$SINK_PORT): 250 2.0.0 Ok" "BDAT LAST gets the downstream's reply"
ok_sink_msg "bdat-$$@"
f=$(sink_grep "bdat-$$@" | head -n 1)
is "$( [ -n "$f" ] && $SMTPCLIENT bodyhash --sink "$f")" "$($SMTPCLIENT bodyhash "$TG_TMP/bdat.eml")" "BDAT message arrived byte for byte"

# --- 50 MB message, CRLF throughout, byte for byte
$SMTPCLIENT genmsg --size $((50 * 1024 * 1024)) --out "$TG_TMP/big.eml" --message-id "big-$$@example.net"
bigsize=$(stat -c %s "$TG_TMP/big.eml")
t0=$SECONDS
out=$(dialogue "$TG_SMTP_PORT" --timeout 300 <<EOS
<
= EHLO client.example.net
= MAIL FROM:<sender@example.net> SIZE=$bigsize
= RCPT TO:<user1@example.com>
= DATA
data $TG_TMP/big.eml
<
= QUIT
EOS
)
is "$(replies_after "$out" '^C: \.$')" "S: 250 2.0.0 from MTA(smtp:[127.0.0.1]:$SINK_PORT): 250 2.0.0 Ok" "50 MB message accepted after the downstream took it"
diag "50 MB message: $((SECONDS - t0)) s"
ok_sink_msg "big-$$@" 60
f=$(sink_grep "big-$$@" | head -n 1)
is "$( [ -n "$f" ] && $SMTPCLIENT bodyhash --sink "$f")" "$($SMTPCLIENT bodyhash "$TG_TMP/big.eml")" "50 MB body arrived byte for byte (sha256)"
rm -f "$TG_TMP/big.eml" "$f"

# --- message_size_limit (restart with a 100 KB limit)
stop_tollgated
start_tollgated "$LISTEN
forward_method = smtp:[127.0.0.1]:$SINK_PORT
message_size_limit = 100k"
$SMTPCLIENT genmsg --size 300000 --out "$TG_TMP/over.eml" --message-id "over-$$@example.net"
before=$(count_sink)
out=$(dialogue "$TG_SMTP_PORT" <<EOS
<
= EHLO client.example.net
= MAIL FROM:<sender@example.net> SIZE=300000
= RCPT TO:<user1@example.com>
= RSET
= MAIL FROM:<sender@example.net>
= RCPT TO:<user1@example.com>
= DATA
data $TG_TMP/over.eml
<
= NOOP
= QUIT
EOS
)
like "$(replies_after "$out" '^C: EHLO' | grep SIZE)" '^S: 250-SIZE 10(2400|0000)$' "EHLO announces the limit with SIZE"
like "$( (replies_after "$out" '^C: MAIL FROM:<sender@example.net> SIZE='; replies_after "$out" '^C: RCPT') | grep -v '^S: 250 ' | head -n 1)" \
	'^S: 552 5\.3\.4 ' "declared SIZE over the limit: 552 5.3.4 (at MAIL or RCPT)"
like "$(replies_after "$out" '^C: \.$')" '^S: 552 5\.3\.4 ' "300 KB message over a 100 KB limit: 552 5.3.4 after the dot"
is "$(replies_after "$out" '^C: NOOP')" "S: 250 2.0.0 Ok NOOP" "the session continues"
sleep 1
is "$(count_sink)" "$before" "the oversized message was not forwarded"
out=$(dialogue "$TG_LMTP_PORT" <<EOS
<
= LHLO client.example.net
= MAIL FROM:<sender@example.net>
= RCPT TO:<user1@example.com>
= RCPT TO:<user2@example.com>
= DATA
data $TG_TMP/over.eml
<2
= QUIT
EOS
)
is "$(replies_after "$out" '^C: \.$' | cut -c1-13 | joined)" "S: 552 5.3.4|S: 552 5.3.4" "LMTP: one 552 5.3.4 per recipient"
