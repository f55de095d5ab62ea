#!/bin/bash
# t_testfiles.sh - the Debian clamav-testfiles samples through tollgated,
# on the project's own signature database (tests/data/make-sigdb, via
# tg_sigdb): clam.exe; clam.zip, clam.pdf and clam.ole.doc, which have no
# signature of their own there, only the clam.exe inside them has one -
# so each blocked as ClamAV-Test-File.clam.exe proves that libclamav
# opened the zip, the PDF's embedded file and the OLE2 document's
# package object; and one message carrying several samples.
# Each: LMTP reply 250 2.7.0 discarded with the signature name, and one
# "Blocked INFECTED (name)" log line for its Message-ID.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_tollgated

TF=/usr/share/clamav-testfiles
for s in clam.exe clam.zip clam.pdf clam.ole.doc clam.tar.gz; do
	require_file "$TF/$s" clamav-testfiles
done

plan 14
start_sink
start_tollgated

INNER=ClamAV-Test-File.clam.exe

# --- the database is the generator's: clam.exe has its signature, the
# containers none of their own (else a match would not prove they were opened)
md5_of() { md5sum <"$1" | cut -c1-32; }
is "$(grep -h "^$(md5_of "$TF/clam.exe"):544:" "$TG_SIGDB"/*.hdb)" "$(md5_of "$TF/clam.exe"):544:$INNER" \
	"tollgated's database ($TG_SIGDB) has clam.exe as $INNER"
for s in clam.zip clam.pdf clam.ole.doc; do
	is "$(cat "$TG_SIGDB"/*.hdb | grep -c "^$(md5_of "$TF/$s"):")" 0 "$s itself has no signature in the database"
done

# deliver_sample - one message with the given attachments to one
# recipient; checks the reply and the log line: deliver_sample TAG NAME FILE...
deliver_sample() {
	local tag=$1 name=$2 out reply rx n
	shift 2
	local args=() f
	for f in "$@"; do args+=(--attach "$TF/$f"); done
	$MKMSG attach --out "$TG_TMP/$tag.eml" "${args[@]}" --to "blocked-$tag@example.com" \
		--subject "testfile $tag $$" --message-id "$tag-$$@example.net"
	out=$(lmtp_deliver "$TG_TMP/$tag.eml" sender@example.net "blocked-$tag@example.com")
	reply=$(printf '%s\n' "$out" | after_dot | head -n 1)
	rx="^250 2\\.7\\.0 Ok, discarded, id=[0-9]+-[0-9]+ - INFECTED: ${name//./\\.}\\.UNOFFICIAL\$"
	like "$reply" "$rx" "$*: 250 2.7.0 Ok, discarded, id=... - INFECTED: $name.UNOFFICIAL"
	[[ "$reply" =~ $rx ]] || diag "$out"
	wait_until "[ \"\$(tg_log_count 'Message-ID: <$tag-$$@example\\.net>')\" -ge 1 ]" 10 || true
	n=$(tg_log_count "Blocked INFECTED \\(${name//./\\.}\\.UNOFFICIAL\\) \\{Discarded[A-Za-z,]*\\}, .*Message-ID: <$tag-$$@example\\.net>")
	is "$n" 1 "$*: one log line Blocked INFECTED ($name.UNOFFICIAL) {Discarded...}"
	[ "$n" = 1 ] || diag_file "$TG_LOG" 10
}

deliver_sample exe "$INNER" clam.exe
deliver_sample zip "$INNER" clam.zip
deliver_sample pdf "$INNER" clam.pdf
deliver_sample doc "$INNER" clam.ole.doc
deliver_sample several "$INNER" clam.zip clam.pdf clam.ole.doc clam.tar.gz
