#!/bin/bash
# t_master.sh - the master's supervision and the listener kinds:
#   - workers are recycled after max_requests messages, nothing lost
#   - a worker stuck on one message past child_timeout is killed and
#     replaced; the client never got a 2xx for that message
#   - workers run as daemon_user (uid in /proc/PID/status), the master as root
#   - listeners on a unix socket (LMTP) and on [::1] (SMTP) at once
#   - STARTTLS on a listener when a certificate is configured
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
require_cmd openssl openssl

plan 14
start_sink

# --- recycling after max_requests
start_tollgated "forward_method = smtp:[127.0.0.1]:$SINK_PORT
max_servers = 1
max_requests = 3"
wait_until '[ "$(tollgated_worker_count)" -eq 1 ]' 10
first=$(tollgated_workers)
for i in 1 2 3 4 5 6 7; do
	$SMTPCLIENT send 127.0.0.1 "$TG_LMTP_PORT" --lmtp --to "r$i@example.com" \
		--message-id "recycle-$i-$$@example.net" >/dev/null
done
wait_until '[ "$(sink_count_grep "recycle-.*-$$@")" -eq 7 ]' 20
is "$(sink_count_grep "recycle-.*-$$@")" 7 "7 messages through a worker with max_requests = 3 all arrive"
now=$(tollgated_workers)
replaced_ok() { [ -n "$now" ] && [ "$now" != "$first" ]; }
check "the worker was replaced after max_requests (pid $first, now $now)" replaced_ok
is "$(tg_log_count 'Passed CLEAN')" 7 "7 Passed CLEAN log lines"

# --- privilege drop
w=$(tollgated_workers | head -n 1)
uid=$(awk '/^Uid:/ {print $2}' "/proc/$w/status")
is "$uid" "$(id -u nobody)" "a worker runs as daemon_user nobody (uid $uid)"
is "$(awk '/^Uid:/ {print $2}' "/proc/$TG_PID/status")" 0 "the master keeps root (it binds and reloads)"
stop_tollgated

# --- child_timeout: a worker stuck in the middle of a message is killed by
# the master. The worker's own deadlines end a slow delivery inside
# child_timeout (t_deadline.sh), so it is held here by SIGSTOP once it is
# forwarding (the downstream holds back its 354): only the master's
# child_timeout kill (SIGKILL) can end it.
start_slowsink 30
start_tollgated "forward_method = smtp:[127.0.0.1]:$SLOW_PORT
max_servers = 1
child_timeout = 3s"
wait_until '[ "$(tollgated_worker_count)" -eq 1 ]' 10
first=$(tollgated_workers)
$SMTPCLIENT send 127.0.0.1 "$TG_LMTP_PORT" --lmtp --from slow-data@example.net --to stuck@example.com \
	--message-id "stuck-$$@example.net" --timeout 20 >"$TG_TMP/stuck.out" 2>&1 &
stuck_client=$!
wait_until 'grep -q "^data .*<slow-data@" "$SLOW_EVENTS"' 10
kill -STOP "$first"
wait "$stuck_client"
out=$(cat "$TG_TMP/stuck.out")
after=$(printf '%s\n' "$out" | after_dot | sort -u | tr '\n' ' ')
# the whole message went out and the connection was closed with no reply
# (no 2xx, and not our own client's timeout: the kill closed it)
is "$(printf '%s\n' "$out" | grep -c '^C: \.$') $after" "1 <EOF> " \
	"the stuck worker's client: the message sent, then the connection closed without a reply (no 2xx)"
check "the master logged the child_timeout kill of worker $first" grep -q "worker $first: task exceeded child_timeout" "$TG_LOG"
wait_until '[ "$(tollgated_worker_count)" -eq 1 ] && [ "$(tollgated_workers)" != "'"$first"'" ]' 10
new_worker() { [ "$(tollgated_worker_count)" -eq 1 ] && [ "$(tollgated_workers)" != "$first" ]; }
check "a replacement worker runs" new_worker
stop_tollgated

# --- unix socket and IPv6 listeners together (the IPv6 one only where lo
# has ::1: the one optional skip here, tests/integration/README.md)
HAVE_V6=0
ip -6 addr show lo 2>/dev/null | grep -q '::1' && HAVE_V6=1
{
	v6=$(free_port)
	sock=$TG_TMP/lmtp.sock
	listen="lmtp:127.0.0.1:$(free_port) lmtp:unix:$sock"
	[ "$HAVE_V6" = 1 ] && listen="$listen smtp:[::1]:$v6"
	start_tollgated "listen = $listen
forward_method = smtp:[127.0.0.1]:$SINK_PORT"
	wait_until "[ -S $sock ]" 10
	"$PYTHON" - "$sock" "$$" <<'PY' >"$TG_TMP/unix.out" 2>&1
import smtplib, sys
s = smtplib.LMTP(sys.argv[1])
s.sendmail("sender@example.net", ["unix@example.com"],
    "From: <sender@example.net>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
    "Message-ID: <unix-%s@example.net>\r\nSubject: unix\r\n\r\nvia a unix socket\r\n" % sys.argv[2])
s.quit()
print("sent")
PY
	[ "$HAVE_V6" = 1 ] && "$PYTHON" - "$v6" "$$" <<'PY' >"$TG_TMP/v6.out" 2>&1
import smtplib, sys
s = smtplib.SMTP("::1", int(sys.argv[1]))
s.sendmail("sender@example.net", ["v6@example.com"],
    "From: <sender@example.net>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
    "Message-ID: <v6-%s@example.net>\r\nSubject: v6\r\n\r\nvia IPv6\r\n" % sys.argv[2])
s.quit()
print("sent")
PY
	wait_until '[ "$(sink_count_grep "(unix|v6)-$$@")" -eq $((1 + HAVE_V6)) ]' 10
	is "$(sink_count_grep "unix-$$@")" 1 "a message over the LMTP unix socket listener arrives"
	if [ "$HAVE_V6" = 1 ]; then
		is "$(sink_count_grep "v6-$$@")" 1 "a message over the SMTP [::1] listener arrives"
	else
		skip "a message over the SMTP [::1] listener arrives" "no ::1 on lo (IPv6 disabled)"
	fi
	stop_tollgated
}

# --- STARTTLS on a listener
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=tollgate.example.com" \
	-keyout "$TG_TMP/key.pem" -out "$TG_TMP/cert.pem" >/dev/null 2>&1
chmod 644 "$TG_TMP/key.pem"
start_tollgated "listen = smtp:127.0.0.1:$(free_port)
forward_method = smtp:[127.0.0.1]:$SINK_PORT
smtpd_tls_cert_file = $TG_TMP/cert.pem
smtpd_tls_key_file = $TG_TMP/key.pem"
port=$(sed -n 's/^listen = smtp:127.0.0.1:\([0-9]*\)$/\1/p' "$TG_CONF" | tail -n 1)
"$PYTHON" - "$port" "$$" <<'PY' >"$TG_TMP/tls.out" 2>&1
import smtplib, ssl, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
s.ehlo()
print("offered" if s.has_extn("starttls") else "not-offered")
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx)
s.ehlo()
print("after-tls-offered" if s.has_extn("starttls") else "after-tls-gone")
print("cipher", s.sock.cipher()[0])
s.sendmail("sender@example.net", ["tls@example.com"],
    "From: <sender@example.net>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
    "Message-ID: <tls-%s@example.net>\r\nSubject: tls\r\n\r\nover TLS\r\n" % sys.argv[2])
s.quit()
PY
check "EHLO offers STARTTLS" grep -qx offered "$TG_TMP/tls.out"
check "EHLO after TLS no longer offers STARTTLS" grep -qx after-tls-gone "$TG_TMP/tls.out"
wait_until '[ "$(sink_count_grep "tls-$$@")" -eq 1 ]' 10
is "$(sink_count_grep "tls-$$@")" 1 "a message sent under TLS arrives"
esmtps() { sink_grep "tls-$$@" | xargs -r grep -l 'with ESMTPS' | grep -q .; }
check "our Received header says ESMTPS" esmtps
[ "$TG_FAILS" -eq 0 ] || diag_file "$TG_TMP/tls.out" 10 "tls client"
