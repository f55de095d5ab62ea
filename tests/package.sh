#!/usr/bin/env bash
# tests/package.sh - the Debian package end to end (TAP; as root, Debian 12):
# builds it from a copy of the source tree (dpkg-buildpackage -b), checks
# it with lintian, installs it with dpkg -i, runs the packaged tollgated
# as the unit's ExecStartPre=/ExecStart= do (no systemd here: in the
# foreground, on a copy of the packaged configuration pointed at a test
# signature database and free loopback ports), sends a clean and an EICAR
# message over LMTP to an smtp-sink downstream, checks the owners of what
# the workers wrote, stops it by pid, purges the package and checks what
# is left: only the quarantine (debian/README.Debian), which it removes
# at the end. A missing tool fails, it never skips.
# "ops/quickstart test" runs it as a counted stage (tests/package.trs).
# TG_PACKAGE_KEEP=1 keeps the work directory (/tmp/tg-package.*);
# TG_PACKAGE_FROM=HEAD builds the last commit instead of the work tree.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
PLAN=34
N=0 FAILS=0
echo "1..$PLAN"
ok() { N=$((N + 1)); echo "ok $N - $*"; }
not_ok() { N=$((N + 1)); FAILS=$((FAILS + 1)); echo "not ok $N - $*"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
# check DESC CMD... - ok when CMD succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# is GOT WANT DESC
is() { if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3"; diag "got:  '$1'" "want: '$2'"; fi; }
# bail_out MSG - the remaining tests fail: the plan stays whole
bail_out() {
	not_ok "$*"
	while [ "$N" -lt "$PLAN" ]; do not_ok "not run: $*"; done
	exit 1
}

[ "$(id -u)" = 0 ] || bail_out "needs root (dpkg -i, the tollgate user)"

WORK=$(mktemp -d /tmp/tg-package.XXXXXX) || bail_out "mktemp failed"
chmod 755 "$WORK"            # smtp-sink (postfix) writes in sink/
PIDS=() INSTALLED=0 USER_MADE=0 PKG=tollgate
CONF=/etc/tollgate/tollgate.conf
# pkg_state - installed, config-files, half-installed..., or not-installed
pkg_state() {
	local s
	s=$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null)
	echo "${s:-not-installed}"
}

# cleanup - stop what this test started (by pid), purge the package if
# it is still installed, remove what purge keeps and the user if it was
# made here: nothing of the test stays on the machine
cleanup() {
	local p
	[ "${PF_STARTED:-0}" = 1 ] && /usr/sbin/postfix -c "$WORK/postfix" stop >/dev/null 2>&1
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$p" 2>/dev/null
	done
	if [ "$INSTALLED" = 1 ] && [ "$(pkg_state)" != not-installed ]; then
		dpkg --purge "$PKG" >>"$WORK/purge.log" 2>&1
	fi
	if [ "$INSTALLED" = 1 ]; then
		rm -rf /var/lib/tollgate /etc/tollgate /run/tollgate
		if [ "$USER_MADE" = 1 ] && getent passwd tollgate >/dev/null; then
			deluser --quiet --system tollgate >/dev/null 2>&1
			getent group tollgate >/dev/null && delgroup --quiet --system tollgate >/dev/null 2>&1
		fi
	fi
	if [ "${TG_PACKAGE_KEEP:-0}" = 1 ]; then echo "# kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1: the tools; a missing one is a failure
missing=()
for t in dpkg-buildpackage dh dh_autoreconf lintian dpkg-deb dpkg-query adduser deluser \
	python3 systemd-analyze setpriv ss; do
	command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
[ -x /usr/sbin/smtp-sink ] || missing+=(smtp-sink)
[ ${#missing[@]} -eq 0 ] ||
	bail_out "missing tools: ${missing[*]} (ops/quickstart deps installs debhelper, dpkg-dev, lintian, postfix, systemd)"
ok "build, check and run tools present"

# Never touch a tollgate the admin installed, nor its files.
if [ "$(pkg_state)" != not-installed ]; then
	bail_out "the tollgate package is installed on this machine: not touching it"
fi
for d in /etc/tollgate /var/lib/tollgate /run/tollgate; do
	[ ! -e "$d" ] || bail_out "$d exists: not touching it"
done
getent passwd tollgate >/dev/null || USER_MADE=1

# --- 2: debian/changelog and configure.ac give the same version
ver=$(sed -n 's/^AC_INIT(\[tollgate\], \[\([^]]*\)\].*/\1/p' "$top/configure.ac")
dver=$(sed -n '1s/^tollgate (\([^)]*\)).*/\1/p' "$top/debian/changelog")
is "$dver" "$ver" "debian/changelog's version is configure.ac's ($ver)"
arch=$(dpkg --print-architecture)

# --- 3-5: build from a copy of the tree (tracked and new files as they
# are in the work tree, none of the build directories or generated files;
# TG_PACKAGE_FROM=HEAD: the last commit, git archive HEAD)
mkdir -p "$WORK/src"
if [ "${TG_PACKAGE_FROM:-}" = HEAD ]; then
	git -C "$top" archive HEAD | tar -x -C "$WORK/src"
elif git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z -c -o --exclude-standard | grep -zv '^_build' |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		xargs -0 cp -P --parents -t "$WORK/src")
else
	(cd "$top" && tar -c --exclude='./_build*' --exclude=./configure --exclude=./autom4te.cache . |
		tar -x -C "$WORK/src")
fi
t0=$(date +%s)
# the unit tests ran in ops/quickstart's make check: nocheck here
(cd "$WORK/src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
	timeout 600 dpkg-buildpackage -us -uc -b >"$WORK/build.log" 2>&1)
brc=$?
deb="$WORK/${PKG}_${dver}_${arch}.deb"
dbg="$WORK/${PKG}-dbgsym_${dver}_${arch}.deb"
if [ "$brc" = 0 ] && [ -f "$deb" ]; then
	ok "dpkg-buildpackage -us -uc -b built $(basename "$deb") ($(($(date +%s) - t0)) s)"
else
	not_ok "dpkg-buildpackage -us -uc -b built $(basename "$deb") (rc $brc)"
	tail -n 30 "$WORK/build.log" | diag "$(cat)"
	bail_out "no package to test"
fi
check "... and $(basename "$dbg")" test -f "$dbg"
lintian --fail-on error,warning "$deb" "$dbg" >"$WORK/lintian.log" 2>&1
lrc=$?
tags=$(grep -E '^[EW]: ' "$WORK/lintian.log")
if [ "$lrc" = 0 ] && [ -z "$tags" ]; then
	ok "lintian: no error, no warning"
else
	not_ok "lintian: no error, no warning (rc $lrc)"
	diag "$(cat "$WORK/lintian.log")"
fi

# --- 6-12: install it
if dpkg -i "$deb" >"$WORK/install.log" 2>&1; then
	INSTALLED=1; ok "dpkg -i $(basename "$deb")"
else
	INSTALLED=1
	# dependencies from the archive, as an admin would
	if DEBIAN_FRONTEND=noninteractive apt-get install -f -y -q >>"$WORK/install.log" 2>&1 &&
		[ "$(pkg_state)" = installed ]; then
		ok "dpkg -i $(basename "$deb") (apt-get install -f for its dependencies)"
	else
		diag "$(tail -n 20 "$WORK/install.log")"
		bail_out "dpkg -i $(basename "$deb")"
	fi
fi
dpkg -L "$PKG" >"$WORK/files"
want="/usr/sbin/tollgated /usr/bin/tollgate /usr/share/man/man8/tollgated.8.gz
/usr/share/man/man1/tollgate.1.gz /usr/share/man/man5/tollgate.conf.5.gz
/lib/systemd/system/tollgated.service $CONF /usr/share/doc/tollgate/README.Debian
/usr/share/doc/tollgate/copyright"
lacking=$(for f in $want; do grep -qxF "$f" "$WORK/files" && [ -e "$f" ] || echo "$f"; done)
is "$lacking" "" "the package installs the programs, man pages, unit, configuration, README.Debian"
is "$(dpkg-query -W -f='${Conffiles}' "$PKG" | awk 'NF { print $1 }')" "$CONF" "$CONF is its conffile (and the only one)"
pw=$(getent passwd tollgate)
uid=$(cut -d: -f3 <<<"$pw") gid=$(cut -d: -f4 <<<"$pw")
if [ -n "$pw" ] && [ "$uid" -lt 1000 ] && [ "$(getent group tollgate | cut -d: -f3)" = "$gid" ] &&
	[ "$(cut -d: -f6 <<<"$pw")" = /var/lib/tollgate ] && [ "$(cut -d: -f7 <<<"$pw")" = /usr/sbin/nologin ]; then
	ok "system user and group tollgate (uid $uid, home /var/lib/tollgate, no login)"
else
	not_ok "system user and group tollgate"; diag "passwd: $pw"
fi
is "$(stat -c '%U:%G %a' /var/lib/tollgate /var/lib/tollgate/tmp /var/lib/tollgate/quarantine 2>&1 | tr '\n' ' ')" \
	"root:root 755 tollgate:tollgate 750 tollgate:tollgate 750 " \
	"/var/lib/tollgate root's, its tmp and quarantine tollgate's 0750"
UNIT=/lib/systemd/system/tollgated.service
out=$(systemd-analyze verify --man=no "$UNIT" 2>&1); vrc=$?
if [ "$vrc" = 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify $UNIT: clean"
else not_ok "systemd-analyze verify $UNIT: clean (rc $vrc)"; diag "$out"; fi
unit_has() { grep -qxF "$1" "$UNIT"; }
bad=$(for l in Type=notify "ExecStart=/usr/sbin/tollgated -f -c $CONF" "ExecStartPre=/usr/sbin/tollgated -c $CONF -t" \
	ProtectSystem=strict ReadWritePaths=/var/lib/tollgate ProtectHome=yes PrivateTmp=yes \
	NoNewPrivileges=yes RuntimeDirectory=tollgate StateDirectory=tollgate; do unit_has "$l" || echo "$l"; done)
is "$bad" "" "the unit: Type=notify, sandboxed, only /var/lib/tollgate and /run/tollgate writable"

# --- 13: the packaged configuration says what the package needs
got=$(/usr/sbin/tollgated -c "$CONF" -n 2>&1 | grep -E '^(daemon_user|daemon_group|tmp_dir|quarantine_dir|pid_file|control_socket|listen|forward_method) ' | sort)
want=$(sort <<'EOF'
listen = lmtp:127.0.0.1:10024
forward_method = smtp:[127.0.0.1]:10025
tmp_dir = /var/lib/tollgate/tmp
pid_file = /run/tollgate/tollgated.pid
daemon_user = tollgate
daemon_group = tollgate
quarantine_dir = /var/lib/tollgate/quarantine
control_socket = /run/tollgate/tollgated.ctl
EOF
)
is "$got" "$want" "tollgated -n on $CONF: the tollgate user, /var/lib/tollgate and /run/tollgate paths"

# --- 14-21: run the packaged tollgated as the unit would
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
python3 "$top/tests/data/make-sigdb" "$WORK/sigdb" 1000 >"$WORK/sigdb.log" 2>&1 ||
	{ diag "$(tail -n 5 "$WORK/sigdb.log")"; bail_out "tests/data/make-sigdb failed"; }
LMTP_PORT=$(free_port) SINK_PORT=$(free_port)
[ -n "$LMTP_PORT" ] && [ -n "$SINK_PORT" ] && [ "$LMTP_PORT" != "$SINK_PORT" ] || bail_out "no free ports"
mkdir -p "$WORK/sink" && chown postfix "$WORK/sink"
/usr/sbin/smtp-sink -u postfix -d "$WORK/sink/%Y%m%d%H%M%S." "127.0.0.1:$SINK_PORT" 64 >"$WORK/sink.log" 2>&1 &
PIDS+=($!)
# the packaged configuration, with only the ports and the database changed
TCONF=$WORK/tollgate.conf
sed -e "s|^listen = .*|listen = lmtp:127.0.0.1:$LMTP_PORT|" \
	-e "s|^forward_method = .*|forward_method = smtp:[127.0.0.1]:$SINK_PORT|" \
	-e "s|^clamav_database = .*|clamav_database = $WORK/sigdb|" "$CONF" >"$TCONF"
# the unit's commands, with the configuration file swapped for the copy
pre=$(sed -n 's/^ExecStartPre=//p' "$UNIT") start=$(sed -n 's/^ExecStart=//p' "$UNIT")
pre=${pre/ $CONF / $TCONF } start=${start/ $CONF/ $TCONF}
read -r -a pre_argv <<<"$pre"; read -r -a start_argv <<<"$start"
if "${pre_argv[@]}" >"$WORK/pre.log" 2>&1; then ok "ExecStartPre ($pre): the configuration checks"
else not_ok "ExecStartPre ($pre): the configuration checks"; diag "$(cat "$WORK/pre.log")"; fi
# what systemd makes for the unit (RuntimeDirectory=tollgate: root's
# 0755); NoNewPrivileges=yes as setpriv --no-new-privs
install -d -m 0755 /run/tollgate
setpriv --no-new-privs "${start_argv[@]}" >"$WORK/tollgated.log" 2>&1 &
TG_PID=$!
PIDS+=("$TG_PID")
listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -qF "127.0.0.1:$1"; }
for _ in $(seq 150); do
	listening "$LMTP_PORT" && [ -s /run/tollgate/tollgated.pid ] && break
	kill -0 "$TG_PID" 2>/dev/null || break
	sleep 0.2
done
if listening "$LMTP_PORT" && [ "$(cat /run/tollgate/tollgated.pid 2>/dev/null)" = "$TG_PID" ] &&
	listening "$SINK_PORT"; then
	ok "tollgated -f ($start, NoNewPrivileges) listens, pid in /run/tollgate/tollgated.pid"
else
	diag "$(tail -n 20 "$WORK/tollgated.log")"
	bail_out "tollgated -f ($start) listens, pid in /run/tollgate/tollgated.pid"
fi

# lmtp_send NAME BODYFILE - one message over LMTP; prints the reply to DATA
lmtp_send() {
	python3 - "$LMTP_PORT" "$2" <<'EOF'
import smtplib, sys
port, body = int(sys.argv[1]), open(sys.argv[2], "rb").read()
msg = (b"From: <sender@example.net>\r\nTo: <user@example.com>\r\nSubject: package test\r\n"
       b"Message-ID: <%d.package@example.net>\r\n\r\n" % id(body)) + body
c = smtplib.LMTP("127.0.0.1", port, timeout=60)
c.ehlo("localhost")          # LHLO on an LMTP object
c.mail("sender@example.net")
c.rcpt("user@example.com")
code, text = c.data(msg)
print(code, text.decode(errors="replace"))
c.quit()
EOF
}
printf 'a clean message\r\n' >"$WORK/clean.txt"
python3 -c 'import sys; sys.stdout.write("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS" + "-TEST-FILE!$H+H*\r\n")' >"$WORK/eicar.txt"
sink_count() { find "$WORK/sink" -type f | wc -l; }
r=$(lmtp_send clean "$WORK/clean.txt" 2>&1)
for _ in $(seq 50); do [ "$(sink_count)" -ge 1 ] && break; sleep 0.2; done
if [[ $r == 250\ * ]] && [ "$(sink_count)" = 1 ] &&
	grep -q '^X-Virus-Scanned: tollgate' "$(find "$WORK/sink" -type f | head -n 1)"; then
	ok "a clean message: 250 over LMTP, delivered downstream scanned"
else
	not_ok "a clean message: 250 over LMTP, delivered downstream scanned"; diag "reply: $r" "sink: $(sink_count)"
fi
# the worker directories, while the workers run
wd=$(find /var/lib/tollgate/tmp -mindepth 1 -maxdepth 1 -name "tollgated.$TG_PID.*" -printf '%u:%g %m\n' | sort -u)
nwd=$(find /var/lib/tollgate/tmp -mindepth 1 -maxdepth 1 -name "tollgated.$TG_PID.*" | wc -l)
if [ "$wd" = "tollgate:tollgate 700" ] && [ "$nwd" = 2 ]; then
	ok "the 2 workers' directories in /var/lib/tollgate/tmp: tollgate's, 0700"
else
	not_ok "the 2 workers' directories in /var/lib/tollgate/tmp: tollgate's, 0700"
	diag "$(ls -la /var/lib/tollgate/tmp)"
fi
r=$(lmtp_send eicar "$WORK/eicar.txt" 2>&1)
sleep 0.5
if [[ $r == 250\ 2.7.0* ]] && [[ $r == *INFECTED* ]] && [ "$(sink_count)" = 1 ]; then
	ok "the EICAR message: discarded (250 2.7.0 ... INFECTED), not delivered"
else
	not_ok "the EICAR message: discarded (250 2.7.0 ... INFECTED), not delivered"; diag "reply: $r" "sink: $(sink_count)"
fi
q=$(find /var/lib/tollgate/quarantine -type f -name 'virus-*' -printf '%u:%g\n')
if [ "$q" = "tollgate:tollgate" ] && grep -q 'EICAR-STANDARD' /var/lib/tollgate/quarantine/virus-*; then
	ok "quarantined in /var/lib/tollgate/quarantine, the file tollgate's"
else
	not_ok "quarantined in /var/lib/tollgate/quarantine, the file tollgate's"
	diag "$(ls -laR /var/lib/tollgate/quarantine)" "$(tail -n 10 "$WORK/tollgated.log")"
fi
out=$(/usr/bin/tollgate status -c "$TCONF" 2>&1)
if grep -q "master pid $TG_PID," <<<"$out" && [ "$(grep -cE '^[0-9]+ ' <<<"$out")" = 2 ]; then
	ok "tollgate status over /run/tollgate/tollgated.ctl"
else
	not_ok "tollgate status over /run/tollgate/tollgated.ctl"; diag "$out"
fi
# --- tollgate explain answers for the installed package
printf 'From: <sender@example.net>\r\nTo: <user@example.com>\r\nSubject: explain\r\n\r\n' >"$WORK/eicar.eml"
cat "$WORK/eicar.txt" >>"$WORK/eicar.eml"
out=$(/usr/bin/tollgate explain -c "$TCONF" --from sender@example.net --to user@example.com "$WORK/eicar.eml" 2>/dev/null)
if grep -q '^ClamAV: *INFECTED: Eicar' <<<"$out" &&
	grep -qE '^  reply: *250 2\.7\.0 Ok, discarded, id=.* - INFECTED: Eicar' <<<"$out"; then
	ok "tollgate explain: the EICAR message, INFECTED, and the 250 2.7.0 discard Postfix would get"
else
	not_ok "tollgate explain: the EICAR message, INFECTED, and the 250 2.7.0 discard Postfix would get"; diag "$out"
fi
out=$(/usr/bin/tollgate explain -c "$TCONF" --json --to user@example.com "$WORK/eicar.eml" 2>/dev/null |
	python3 -c 'import json, sys; d = json.load(sys.stdin); r = d["recipients"][0]; print(r["address"], r["destiny"])' 2>&1)
is "$out" "user@example.com DISCARD" "tollgate explain --json: one recipient, destiny DISCARD"

# --- Postfix configured with the lines "tollgate postfix-config" prints:
# a private instance (its own queue, chroot off) in front, the running
# tollgated reloaded to forward to that instance's re-injection smtpd
PF=$WORK/postfix
INJ_PORT=$(free_port) REINJ_PORT=$(free_port)
mkdir -p "$PF/queue"
cat >"$PF/main.cf" <<PFEOF
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
myhostname = pkgtest.example.test
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
relayhost = [127.0.0.1]:$SINK_PORT
maillog_file = $PF/maillog
maillog_file_prefixes = $WORK
mail_owner = postfix
setgid_group = postdrop
smtp_dns_support_level = disabled
smtpd_tls_security_level = none
smtp_tls_security_level = none
PFEOF
sed "s|^forward_method = .*|forward_method = smtp:[127.0.0.1]:$REINJ_PORT|" "$TCONF" >"$WORK/tollgate.conf.new"
/usr/bin/tollgate postfix-config -c "$WORK/tollgate.conf.new" >"$WORK/pfcfg.out" 2>&1
{
	# Postfix's own services from its master.cf.dist, chroot off
	awk '$1 ~ /^(smtp|pickup|cleanup|qmgr|rewrite|bounce|defer|trace|verify|flush|proxymap|proxywrite|relay|showq|error|retry|discard|lmtp|anvil|scache|postlog)$/ && $2 != "inet" { $5 = "n"; print }' \
		/usr/share/postfix/master.cf.dist
	echo "127.0.0.1:$INJ_PORT inet n - n - - smtpd"
	sed -n '/^# master\.cf/,/^# main\.cf/p' "$WORK/pfcfg.out" | grep -v '^#'
} >"$PF/master.cf"
mapfile -t mainlines < <(sed -n '/^# main\.cf/,$p' "$WORK/pfcfg.out" | grep -v '^#')
/usr/sbin/postconf -c "$PF" -e "${mainlines[@]}" >/dev/null 2>&1
cp "$WORK/tollgate.conf.new" "$TCONF"
kill -HUP "$TG_PID"
if /usr/sbin/postfix -c "$PF" start >"$WORK/postfix.log" 2>&1 && grep -q '^content_filter = amavisfeed:' <<<"$(printf '%s\n' "${mainlines[@]}")"; then
	PF_STARTED=1
	for _ in $(seq 75); do listening "$INJ_PORT" && listening "$REINJ_PORT" && break; sleep 0.2; done
	ok "a private Postfix starts with the master.cf and main.cf lines of tollgate postfix-config"
else
	not_ok "a private Postfix starts with the master.cf and main.cf lines of tollgate postfix-config"
	diag "$(cat "$WORK/postfix.log" "$WORK/pfcfg.out" | tail -n 30)"
fi
before=$(sink_count)
python3 - "$INJ_PORT" <<'PYEOF' >"$WORK/pfsend.log" 2>&1
import smtplib, sys
c = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60)
c.sendmail("sender@example.net", ["user@example.com"],
           b"From: <sender@example.net>\r\nTo: <user@example.com>\r\nSubject: through postfix\r\n"
           b"Message-ID: <through-postfix@example.net>\r\n\r\nmail flows\r\n")
c.quit()
PYEOF
for _ in $(seq 150); do [ "$(sink_count)" -gt "$before" ] && break; sleep 0.2; done
f=$(grep -l '^Message-ID: <through-postfix@example.net>' "$WORK"/sink/* 2>/dev/null | head -n 1)
if [ -n "$f" ] && grep -q '^X-Virus-Scanned: tollgate' "$f" && grep -q "amavisfeed\|relay=127.0.0.1\[127.0.0.1\]:$LMTP_PORT" "$PF/maillog"; then
	ok "mail flows: Postfix -> amavisfeed -> the packaged tollgated -> re-injection -> downstream, scanned"
else
	not_ok "mail flows: Postfix -> amavisfeed -> the packaged tollgated -> re-injection -> downstream, scanned"
	diag "$(cat "$WORK/pfsend.log")" "$(tail -n 15 "$PF/maillog" 2>/dev/null)" "$(tail -n 10 "$WORK/tollgated.log")"
fi
[ "${PF_STARTED:-0}" = 1 ] && /usr/sbin/postfix -c "$PF" stop >/dev/null 2>&1

# SIGTERM, as systemctl stop does
kill -TERM "$TG_PID"
for _ in $(seq 150); do kill -0 "$TG_PID" 2>/dev/null || break; sleep 0.2; done
if ! kill -0 "$TG_PID" 2>/dev/null &&
	[ -z "$(find /var/lib/tollgate/tmp -mindepth 1 -maxdepth 1 -name "tollgated.$TG_PID.*")" ]; then
	ok "SIGTERM stops tollgated; its worker directories are gone"
else
	not_ok "SIGTERM stops tollgated; its worker directories are gone"; diag "$(ls -la /var/lib/tollgate/tmp)"
fi
rm -rf /run/tollgate          # systemd removes the RuntimeDirectory on stop
wait "$TG_PID" 2>/dev/null

# --- 22-30: purge
# what purge must keep: the quarantine (README.Debian) and the user
files=$(grep -v -e '^/\.$' "$WORK/files")
if dpkg --purge "$PKG" >"$WORK/purge.log" 2>&1; then ok "dpkg --purge tollgate"
else not_ok "dpkg --purge tollgate"; diag "$(cat "$WORK/purge.log")"; fi
left=$(while IFS= read -r f; do
	[ -d "$f" ] && continue      # shared directories (and /lib, usrmerge's link) stay
	[ -e "$f" ] || [ -L "$f" ] && echo "$f"
done <<<"$files")
is "$left" "" "every file dpkg -L listed is gone"
left=$(for d in /etc/tollgate /usr/share/doc/tollgate /var/lib/tollgate/tmp /run/tollgate; do [ -e "$d" ] && echo "$d"; done)
is "$left" "" "/etc/tollgate, the package's directories and /var/lib/tollgate/tmp are gone"
is "$(pkg_state)" not-installed "dpkg knows nothing of tollgate any more (not even config-files)"
q=$(find /var/lib/tollgate/quarantine -type f -name 'virus-*' -printf '%u:%g\n' 2>/dev/null)
is "$q" "tollgate:tollgate" "the quarantine is kept, with its message (README.Debian)"
is "$(ls -A /var/lib/tollgate 2>&1)" quarantine "nothing but the quarantine in /var/lib/tollgate"
check "the tollgate system user is kept (README.Debian)" eval "getent passwd tollgate >/dev/null"
check "README.Debian says purge keeps the quarantine" \
	grep -q 'never removes quarantined mail' "$top/debian/README.Debian"
# and an empty quarantine is not left behind: install and purge again
dpkg -i "$deb" >>"$WORK/install.log" 2>&1 && rm -rf /var/lib/tollgate/quarantine/* &&
	dpkg --purge "$PKG" >>"$WORK/purge.log" 2>&1
check "install, purge with an empty quarantine: /var/lib/tollgate is gone" test ! -e /var/lib/tollgate

[ "$N" = "$PLAN" ] || { echo "# ran $N tests, planned $PLAN"; exit 1; }
[ "$FAILS" = 0 ]
