#!/bin/bash
# t_failclosed.sh - fail closed, and the directories the workers write.
#
# tmp_dir is made by root (mode 0755) and the workers run as nobody, as on
# a real installation. The master gives each worker a private directory
# there and removes it when it reaps the worker, also after a SIGKILL; it
# sweeps what a dead master left; it refuses to start on a directory the
# workers cannot write. A scan that libclamav could not complete (its temp
# directory unwritable after start, a full disk) tempfails the message:
# never "Passed CLEAN", never delivered.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated
TOLLGATE=${TOLLGATE:-$top_builddir/tollgate}

plan 27
start_sink

# send_one KIND RCPT [MKMSG-ARGS...] - one message straight over LMTP;
# prints the reply to the final dot
send_one() {
	local kind=$1 rcpt=$2
	shift 2
	$MKMSG "$kind" --out "$TG_TMP/$rcpt.eml" --to "$rcpt@example.com" --subject "failclosed $kind $$" \
		--message-id "$rcpt-$$@example.net" "$@"
	lmtp_deliver "$TG_TMP/$rcpt.eml" sender@example.net "$rcpt@example.com" | after_dot | head -n 1
}

# worker_dirs - the workers' private directories under tmp_dir
worker_dirs() { find "$TG_SPOOL" -mindepth 1 -maxdepth 1 -name 'tollgated.*' | sort; }

# --- a stale directory of a master that is gone is swept at start
TG_SPOOL=$TG_TMP/spool
mkdir -p "$TG_SPOOL/tollgated.999999.7/scantemp"
echo leftover >"$TG_SPOOL/tollgated.999999.7/scantemp/part"
start_tollgated "spool_memory_limit = 64k"
wait_until '[ "$(worker_dirs | wc -l)" = 2 ]' 10
check "a stale worker directory of a dead master is removed at start" test ! -e "$TG_SPOOL/tollgated.999999.7"
is "$(tg_log_count 'removed .*tollgated\.999999\.7, left by an earlier run')" 1 "the sweep is logged"

# --- one private directory per worker, the workers' own, 0700
is "$(stat -c '%U %a' "$TG_SPOOL")" "root 755" "tmp_dir is root's, 0755 (as an admin makes it)"
is "$(worker_dirs | wc -l)" 2 "two workers, two private directories"
is "$(worker_dirs | xargs -r stat -c '%U %a' | sort -u)" "nobody 700" "each owned by nobody, mode 0700"

# --- with a writable temp dir the issue's message is found
r=$(send_one eicar-b64 b64-ok)
like "$r" '^250 2\.7\.0 Ok, discarded, id=.* - INFECTED: Eicar' "EICAR as a base64 text/plain attachment: INFECTED"
# a message bigger than spool_memory_limit goes to a file in the worker's directory
$MKMSG clean --out "$TG_TMP/big.eml" --to big@example.com --subject "big $$" --message-id "big-$$@example.net"
python3 -c 'import sys; f = open(sys.argv[1], "a"); f.write(("x" * 76 + "\n") * 9000)' "$TG_TMP/big.eml"
r=$(lmtp_deliver "$TG_TMP/big.eml" sender@example.net big@example.com | after_dot | head -n 1)
like "$r" '^250 2\.0\.0 ' "a 700 KB message spooled to a file in a root-made tmp_dir is delivered"
wait_until '[ "$(sink_count_grep "^Message-ID: <big-$$@example.net>")" = 1 ]' 20
is "$(sink_count_grep "^Message-ID: <big-$$@example.net>")" 1 "and arrives"
is "$(find "$TG_SPOOL" -type f | wc -l)" 0 "no spool file is left after the message"

# --- the scan directory becomes unwritable after start: tempfail, never CLEAN
worker_dirs | xargs -r chmod 0500
r=$(send_one eicar-b64 b64-ro)
like "$r" '^451 4\.[0-9]\.[0-9] ' "EICAR with libclamav's temp dir unwritable: 451, not passed"
r=$(send_one clean clean-ro)
like "$r" '^451 4\.[0-9]\.[0-9] ' "a clean message with libclamav's temp dir unwritable: 451 (not examined is not clean)"
is "$(tg_log_count 'Passed CLEAN.*(b64-ro|clean-ro)@')" 0 "no 'Passed CLEAN' for either"
check "the log says the scanner failed" grep -qE "scanner failure: .*(temp|Permission denied)" "$TG_LOG"
worker_dirs | xargs -r chmod 0700
r=$(send_one clean clean-rw)
like "$r" '^250 2\.0\.0 ' "writable again: a clean message passes"

# --- a SIGKILLed worker leaves nothing behind
start_slowsink 30
stop_tollgated
start_tollgated "spool_memory_limit = 64k
forward_method = smtp:[127.0.0.1]:$SLOW_PORT"
wait_until '[ "$(worker_dirs | wc -l)" = 2 ]' 10
$MKMSG clean --out "$TG_TMP/held.eml" --to held@example.com --subject "held $$" --message-id "held-$$@example.net"
python3 -c 'import sys; f = open(sys.argv[1], "a"); f.write(("y" * 76 + "\n") * 9000)' "$TG_TMP/held.eml"
lmtp_deliver "$TG_TMP/held.eml" slow-data@example.net held@example.com >"$TG_TMP/held.out" 2>&1 &
HELD=$!
tg_track "$HELD"
wait_until '[ "$(find "$TG_SPOOL" -type f -size +600k | wc -l)" = 1 ]' 20
is "$(find "$TG_SPOOL" -type f -size +600k | wc -l)" 1 "a worker holds a 700 KB spool file while downstream stalls"
bfile=$(find "$TG_SPOOL" -type f -size +600k | head -n 1)
bdir=$(dirname "$bfile")
busy=
for p in $(tollgated_workers); do
	{ ls -l "/proc/$p/fd" 2>/dev/null | grep -qF "$bfile" || grep -qF "$bfile" "/proc/$p/maps" 2>/dev/null; } && busy=$p
done
[ -n "$busy" ] || diag "no worker holds $bfile open"
# the slot's next worker makes a directory of the same name at once: the
# killed worker's one is gone when the name is free or names another
# directory (without the marker put into the old one, nor the held file)
touch "$bdir/.killed-worker"
dir_replaced() { [ ! -e "$bdir" ] || { [ ! -e "$bdir/.killed-worker" ] && [ ! -e "$bfile" ]; }; }
tg_expect_worker_death "$busy"
kill -KILL "$busy"
wait_until dir_replaced 20
check "SIGKILL: the master removes the killed worker's directory" dir_replaced
is "$(find "$TG_SPOOL" -type f | wc -l)" 0 "no spool file is left anywhere in tmp_dir"
wait_until '[ "$(worker_dirs | wc -l)" = 2 ]' 10
is "$(worker_dirs | wc -l)" 2 "the new worker has a fresh directory"
wait "$HELD" 2>/dev/null
tg_untrack "$HELD"
stop_tollgated
is "$(worker_dirs | wc -l)" 0 "a stopped tollgated leaves no worker directory"

# --- a full disk under libclamav's temp dir: tempfail, never CLEAN
FULL=$TG_TMP/full
mkdir -p "$FULL"
if mount -t tmpfs -o size=512k tollgate-test "$FULL"; then
	tg_at_exit "umount '$FULL' 2>/dev/null"
	dd if=/dev/zero of="$FULL/fill" bs=1k count=512 2>/dev/null
	start_tollgated "clamav_tmp_dir = $FULL"
	r=$(send_one eicar-zip zip-full)
	like "$r" '^451 4\.[0-9]\.[0-9] ' "EICAR in a zip with libclamav's disk full: 451"
	r=$(send_one clean clean-full)
	like "$r" '^451 4\.[0-9]\.[0-9] ' "a clean message with libclamav's disk full: 451"
	is "$(tg_log_count 'Passed CLEAN.*(zip-full|clean-full)@')" 0 "no 'Passed CLEAN' on a full disk"
	stop_tollgated
	umount "$FULL"
else
	not_ok "mount a 512 KiB tmpfs for the full-disk case (needs root)"
	not_ok "full disk: clean message"
	not_ok "full disk: no Passed CLEAN"
fi

# --- directories the workers could not write: refuse to start, say which
QBAD=$TG_TMP/quarantine-root
mkdir -p "$QBAD"
chmod 0755 "$QBAD"
{ sed '/^quarantine_dir/d' "$TG_CONF"; echo "quarantine_dir = $QBAD"; } >"$TG_TMP/qbad.conf"
out=$("$TOLLGATE" check-config -c "$TG_TMP/qbad.conf" 2>&1)
rc=$?
[ "$rc" != 0 ] && ok "check-config fails on a quarantine_dir nobody cannot write" ||
	{ not_ok "check-config fails on a quarantine_dir nobody cannot write"; diag "$out"; }
like "$out" "quarantine_dir $QBAD: user nobody cannot write" "check-config names the directory and the user"
sed -i '/^quarantine_dir/d' "$TG_CONF"
echo "quarantine_dir = $QBAD" >>"$TG_CONF"
"$TOLLGATED" -f -c "$TG_CONF" >"$TG_TMP/refused.log" 2>&1 &
p=$!
tg_track "$p"
wait_until "! pid_alive $p" 10
check "tollgated refuses to start on it" test "$(pid_alive "$p" && echo alive)" != alive
like "$(cat "$TG_TMP/refused.log")" "cannot start: quarantine_dir $QBAD: user nobody cannot write" \
	"and says why, naming the directory and the user"
pid_alive "$p" || tg_untrack "$p"	# one that did start is stopped by the cleanup
sed -i '/^quarantine_dir/d' "$TG_CONF"

# --- a missing quarantine_dir is made, the workers' own, 0750
QNEW=$TG_TMP/q/new
start_tollgated "quarantine_dir = $QNEW"
is "$(stat -c '%U %a' "$QNEW" 2>&1)" "nobody 750" "a missing quarantine_dir is created: owner nobody, mode 0750"
stop_tollgated
