#!/bin/bash
# t_ampdp.sh - the ampdp: listener (amavisd's AM.PDP): raw requests over
# the unix socket (clean → continue with an insheader, EICAR → discard
# 99 or reject 69, tempfail 75 for refused paths, missing files,
# delivery_care_of=server and final_virus_destiny = tempfail, several
# requests on one connection), release from the quarantine (wrong and
# missing secret refused, right secret delivered to the sink without the
# envelope lines), Debian's amavisd-release against tollgate's socket,
# and - when the amavisd-milter package is installed - a private Postfix
# with smtpd_milters → amavisd-milter → tollgated end to end.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

plan 39
start_sink

SOCK=$TG_TMP/ampdp.sock
BASE=$TG_TMP/amavis/tmp
QDIR=$TG_TMP/quar
mkdir -p "$BASE" "$QDIR"
chown nobody:nogroup "$BASE" "$QDIR"
chmod 0750 "$BASE"
chmod 0755 "$TG_TMP/amavis"

# ampdp_conf - the config lines of this test (plus EXTRA)
ampdp_conf() {
	printf '%s\n' "listen = lmtp:127.0.0.1:$TG_LMTP_PORT ampdp:unix:$SOCK" \
		"quarantine_dir = $QDIR" "ampdp_tempdir_base = $BASE" "$@"
}

# start_ampdp - (re)start tollgated with ampdp_conf EXTRA and wait for the socket
start_ampdp() {
	[ -n "${TG_PID:-}" ] && stop_tollgated
	[ -n "${TG_LMTP_PORT:-}" ] || TG_LMTP_PORT=$(free_port) || bail_out "no free port"
	start_tollgated "$(ampdp_conf "$@")"
	wait_until "[ -S '$SOCK' ]" 20 || bail_out "tollgated did not create $SOCK"
	chown nobody:nogroup "$SOCK"    # amavisd-milter runs as the workers' user
}

cat >"$TG_TMP/ampdp.py" <<'EOF'
# ampdp.py SOCK [--uid UID] - send the requests on stdin (raw name=value
# lines, blank line between requests; values are %-encoded here) over one
# connection and print every response line decoded, "--" after each
import os, re, socket, sys
path = sys.argv[1]
if len(sys.argv) > 3 and sys.argv[2] == "--uid":
    os.setuid(int(sys.argv[3]))
def enc(v):
    return "".join(c if 0x21 <= ord(c) <= 0x7e and c != "%" else "%%%02x" % ord(c) for c in v)
reqs, cur = [], []
for line in sys.stdin.read().split("\n"):
    if line == "":
        if cur: reqs.append(cur); cur = []
        continue
    n, v = line.split("=", 1)
    cur.append(n + "=" + enc(v))
if cur: reqs.append(cur)
s = socket.socket(socket.AF_UNIX); s.settimeout(60); s.connect(path)
f = s.makefile("rb")
for r in reqs:
    s.sendall(("\r\n".join(r) + "\r\n\r\n").encode())
    while True:
        l = f.readline()
        if not l: print("<EOF>"); sys.exit(1)
        l = l.rstrip(b"\r\n")
        if l == b"": print("--"); break
        print(re.sub(rb"%([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), l).decode("latin-1"))
EOF
# ampdp - requests on stdin, decoded responses on stdout: ampdp [--uid UID]
ampdp() { "$PYTHON" "$TG_TMP/ampdp.py" "$SOCK" "$@"; }

# mkfile KIND NAME - a message in BASE/NAME/email.txt with LF line ends,
# readable by the workers' user; prints the tempdir
mkfile() {
	local d=$BASE/$2
	mkdir -p "$d"
	$MKMSG "$1" --out "$d/email.txt" --to rcpt@example.com --subject "ampdp $1 $$" --message-id "$2-$$@example.net"
	sed -i 's/\r$//' "$d/email.txt"
	chown -R nobody:nogroup "$d"
	echo "$d"
}

# check_req TEMPDIR [EXTRA-LINES] - an AM.PDP request for the file in TEMPDIR
check_req() {
	printf 'request=AM.PDP\nsender=<sender@example.net>\nrecipient=<rcpt@example.com>\nrecipient=<rcpt2@example.com>\ntempdir=%s\ntempdir_removed_by=client\nqueue_id=QID%s\nclient_address=192.0.2.7\nhelo_name=client.example.net\nprotocol_name=ESMTP\n%s\n' "$1" "$$" "${2:-}"
}

# field OUT NAME - the values of NAME= in a decoded response
field() { printf '%s\n' "$1" | sed -n "s/^$2=//p"; }

start_ampdp

# ------------------------------------------------------------ clean
C=$(mkfile clean clean1)
out=$(check_req "$C" | ampdp)
like "$out" '^version_server=2$' "clean: version_server=2 first"
is "$(printf '%s\n' "$out" | head -n 1)" "version_server=2" "clean: version_server=2 is the first line"
like "$(field "$out" log_id)" '^[0-9]+-[0-9]+$' "clean: log_id is the am_id"
like "$(field "$out" setreply)" '^250 2\.5\.0 Ok, id=[0-9]+-[0-9]+, continue delivery$' "clean: setreply=250 2.5.0 Ok, id=..., continue delivery"
like "$(field "$out" insheader)" '^0 X-Virus-Scanned tollgate at example\.com$' "clean: insheader=0 X-Virus-Scanned tollgate at example.com"
is "$(field "$out" return_value) $(field "$out" exit_code)" "continue 0" "clean: return_value=continue, exit_code=0"
is "$(field "$out" delrcpt)" "" "clean: no delrcpt"
is "$(count_sink)" 0 "clean: nothing delivered by tollgate (the client keeps the message)"
check "clean: tempdir_removed_by=client leaves the file" test -f "$C/email.txt"
like "$(tg_log_count 'Passed CLEAN .*<sender@example.net> -> <rcpt@example.com>,<rcpt2@example.com>.*Queue-ID: QID')" '^1$' "clean: log line Passed CLEAN with the Queue-ID"

# ------------------------------------------------------------ EICAR, discard
V=$(mkfile eicar-b64 virus1)
out=$(check_req "$V" | ampdp)
is "$(field "$out" return_value) $(field "$out" exit_code)" "discard 99" "EICAR: return_value=discard, exit_code=99"
like "$(field "$out" setreply)" '^250 2\.7\.0 Ok, discarded, id=[0-9-]+ - INFECTED: ' "EICAR: setreply=250 2.7.0 Ok, discarded, ... INFECTED"
qline=$(tail -n 1 "$QDIR/index" 2>/dev/null)
QID=$(echo "$qline" | cut -d' ' -f2)
QSECRET=$(echo "$qline" | cut -d' ' -f3)
check "EICAR: quarantined as virus-$QID" test -f "$QDIR/virus-$QID"

# ------------------------------------------------------------ refusals
out=$(printf 'request=AM.PDP\nsender=<a@b>\nrecipient=<c@d>\nmail_file=/etc/passwd\n\n' | ampdp)
like "$out" 'setreply=450 4\.5\.0 Failure: .*not under ampdp_tempdir_base' "mail_file outside ampdp_tempdir_base: 450 4.5.0 Failure"
is "$(field "$out" return_value) $(field "$out" exit_code)" "tempfail 75" "outside the base: tempfail, exit_code=75"
ln -s /etc "$BASE/escape"
out=$(printf 'request=AM.PDP\nsender=<a@b>\nrecipient=<c@d>\nmail_file=%s/escape/passwd\n\n' "$BASE" | ampdp)
like "$(field "$out" setreply)" '^450 4\.5\.0 Failure: .*not under ampdp_tempdir_base' "a symlink out of the base is refused"
out=$(check_req "$BASE/nosuchdir" | ampdp)
like "$(field "$out" setreply) $(field "$out" exit_code)" '^450 4\.5\.0 Failure: .* 75$' "missing tempdir/email.txt: 450 Failure, exit_code=75"
out=$(check_req "$C" "delivery_care_of=server" | ampdp)
like "$(field "$out" setreply) $(field "$out" return_value)" '^450 4\.5\.0 Failure: delivery_care_of=server is not supported.* tempfail$' \
	"delivery_care_of=server: tempfail with a clear reason"
out=$(printf 'sender=<a@b>\nrequest=AM.PDP\n\nrequest=AM.PDP\nsender=<a@b>\ntempdir=%s\n\n' "$C" | ampdp)
is "$(printf '%s\n' "$out" | grep -c '^--$')" 2 "two requests on one connection: two responses"
is "$(printf '%s\n' "$out" | sed -n 's/^setreply=//p' | tr '\n' '|')" "450 4.5.0 Failure: 'request' must be the first attribute|450 4.5.0 Incomplete request|" \
	"request not first: Failure; no recipient: 450 4.5.0 Incomplete request"

# ------------------------------------------------------------ release
out=$(printf 'request=release\nmail_id=%s\nsecret_id=WRONGsecret1\nquar_type=F\n\n' "$QID" | ampdp)
like "$(field "$out" setreply) $(field "$out" exit_code)" '^450 4\.5\.0 Failure: Secret_id does not match mail_id .* 75$' "release with a wrong secret_id is refused"
chmod 0666 "$SOCK"
out=$(printf 'request=release\nmail_id=%s\n\n' "$QID" | ampdp --uid "$(id -u postfix)")
like "$(field "$out" setreply)" '^450 4\.5\.0 Failure: Secret_id is required, but missing$' "release without secret_id by a non-root user is refused"
chown nobody:nogroup "$SOCK"; chmod 0660 "$SOCK"
is "$(count_sink)" 0 "nothing released so far"
out=$(printf 'request=release\nmail_id=%s\nsecret_id=%s\nquar_type=F\nmail_file=virus-%s\n\n' "$QID" "$QSECRET" "$QID" | ampdp)
r=$(field "$out" setreply)
is "$(printf '%s\n' "$r" | wc -l)" 2 "release: one setreply per recipient (2)"
like "$(printf '%s\n' "$r" | head -n 1)" '^250 2\.0\.0 from MTA\(smtp:\[127\.0\.0\.1\]:[0-9]+\): 250 ' "release: setreply=250 ... from MTA(...) with the downstream reply"
wait_until '[ "$(count_sink)" -ge 1 ]' 15
f=$(sink_files | head -n 1)
like "$(grep -c 'EICAR-STANDARD' "${f:-/dev/null}"; grep -hc '^X-Rcpt-Args: <rcpt2\?@example.com>' "${f:-/dev/null}")" '^[0-9]+
2$' "release: the sink got the message for both recipients"
is "$(grep -cE '^(X-Envelope-(From|To)|X-Quarantine-ID|Return-Path):' "${f:-/dev/null}")" 0 "release: the envelope lines of the quarantine file are gone"
like "$(grep -h '^X-Mail-Args:' "${f:-/dev/null}")" '<sender@example.net>' "release: the envelope sender is the original one"
like "$(tg_log_count "Quarantined message release: virus-$QID <sender@example.net>")" '^1$' "release: logged"

# amavisd-release, pointed at our socket ($socketname is set in the script)
if [ -x /usr/sbin/amavisd-release ]; then
	sed "s|^\\([[:space:]]*\\)\\\$socketname = .*|\\1\\\$socketname = '$SOCK';|" /usr/sbin/amavisd-release >"$TG_TMP/amavisd-release"
	out=$(perl -T "$TG_TMP/amavisd-release" "virus-$QID" "$QSECRET" other@example.org 2>&1)
	like "$out" '^250 2\.0\.0 from MTA' "amavisd-release virus-ID SECRET other@example.org: 250 from MTA"
	wait_until '[ "$(sink_count_grep "^X-Rcpt-Args: <other@example.org>")" -ge 1 ]' 15
	is "$(sink_count_grep '^X-Rcpt-Args: <other@example.org>')" 1 "amavisd-release: delivered to the alternative recipient"
	out=$(perl -T "$TG_TMP/amavisd-release" "virus-$QID" wrongsecret99 2>&1)
	like "$out" '450 4\.5\.0 Failure: Secret_id does not match' "amavisd-release with a wrong secret: 450 Failure"
else
	for d in "amavisd-release: 250 from MTA" "amavisd-release: delivered" "amavisd-release: wrong secret"; do
		not_ok "$d: /usr/sbin/amavisd-release is missing (apt-get install amavisd-new)"
	done
fi

# ------------------------------------------------------------ other destinies
start_ampdp "final_virus_destiny = reject"
V=$(mkfile eicar-b64 virus2)
out=$(check_req "$V" | ampdp)
is "$(field "$out" return_value) $(field "$out" exit_code)" "reject 69" "virus + reject: return_value=reject, exit_code=69"
like "$(field "$out" setreply)" '^554 5\.7\.0 Reject, id=[0-9-]+ - INFECTED: ' "virus + reject: setreply=554 5.7.0 Reject ... INFECTED"
start_ampdp "final_virus_destiny = tempfail"
V=$(mkfile eicar-b64 virus3)
out=$(check_req "$V" | ampdp)
is "$(field "$out" return_value) $(field "$out" exit_code)" "tempfail 75" "virus + tempfail: return_value=tempfail, exit_code=75"
like "$(field "$out" setreply)" '^4[0-9][0-9] 4\.' "virus + tempfail: a 4xx setreply"

# ------------------------------------------------------------ amavisd-milter + Postfix
MILTER=/usr/sbin/amavisd-milter
if [ ! -x "$MILTER" ] || ! command -v setpriv >/dev/null; then
	for d in clean virus down; do not_ok "amavisd-milter end to end: $d: $MILTER or setpriv is missing (apt-get install amavisd-milter)"; done
else
	start_ampdp
	start_postfix 1
	MPORT=$(free_port) || bail_out "no free port"
	MW=$BASE/milter
	mkdir -p "$MW"; chown nobody:nogroup "$MW"; chmod 0750 "$MW"
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$MILTER" -f -s "inet:$MPORT@127.0.0.1" -S "$SOCK" \
		-w "$MW" -p "$TG_TMP/milter.pid" >>"$TG_TMP/milter.log" 2>&1 &
	MPID=$!
	tg_track "$MPID"
	wait_port 127.0.0.1 "$MPORT" 10 || bail_out "amavisd-milter did not listen"
	sed -i 's/^  -o content_filter=amavisfeed.*/  -o content_filter=/' "$PF_DIR/master.cf"
	postconf_pf -e "smtpd_milters = inet:127.0.0.1:$MPORT" "milter_default_action = tempfail" \
		"milter_connect_macros = j {client_name} {daemon_name} v" >/dev/null
	postfix_reload
	sleep 2
	out=$(postfix_send --from milter@example.net --to m1@example.com --subject "milter clean $$")
	wait_until '[ "$(sink_count_grep "^Subject: milter clean $$")" -ge 1 ]' 30
	f=$(sink_grep "^Subject: milter clean $$" | head -n 1)
	like "$(grep -h '^X-Virus-Scanned:' "${f:-/dev/null}")" '^X-Virus-Scanned: tollgate at example\.com' \
		"amavisd-milter: clean mail accepted by Postfix with X-Virus-Scanned added"
	$MKMSG eicar-b64 --out "$TG_TMP/mv.eml" --to m2@example.com --subject "milter virus $$" --message-id "mv-$$@example.net"
	out=$(postfix_send --file "$TG_TMP/mv.eml" --from milter@example.net --to m2@example.com)
	sleep 3
	like "$(grep -c "milter-discard" "$PF_DIR/maillog") $(sink_count_grep "^Subject: milter virus $$")" '^[1-9][0-9]* 0$' \
		"amavisd-milter: EICAR discarded by Postfix (milter-discard), nothing at the sink"
	stop_tollgated
	out=$(postfix_send --from milter@example.net --to m3@example.com --subject "milter down $$")
	like "$out" 'S: 4[0-9][0-9] ' "amavisd-milter: tollgated stopped → Postfix answers 4xx"
fi
