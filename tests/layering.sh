#!/bin/bash
# layering.sh - the include arrow of docs/design.md, checked: every
# #include "..." of the production folders must point down the layers
#
#     daemon -> workers -> policy -> scanners | routing | state -> lib/tables -> lib
#     ops -> lib, lib/tables, and daemon/control.h (the control socket)
#
# A folder may include its own headers and those of any layer below it;
# scanners, routing and state (one layer) do not know each other. An
# include against the arrow fails unless the allow-list below names it,
# with its reason. Also: no .c file over MAX_LINES lines without
# "Why so long:" in its first comment, or an allow-list entry.
#
# TAP: one point per module pair that has includes and no violation, one
# "not ok" per violation, one point per long file. Needs bash, grep,
# awk, sed. Run by make check, or by hand from anywhere:
# bash tests/layering.sh
set -u
set -f	# the globs below are patterns over header paths, never file names

# ---------------------------------------------------------------------
# Allow-list of include departures: FILE HEADER-GLOB REASON. Keep it
# short; delete a line when its include goes (a line that matches
# nothing is reported as a "#" note).
ALLOW_INCLUDES='
ops/tollgate_explain.c policy/*    explain builds the policy and banks as the master does
ops/tollgate_explain.c scanners/scanners.h explain loads the ClamAV engine as the master does
ops/tollgate_explain.c workers/workers.h explain runs process_message of workers/ in its dry-run mode
ops/tollgate_state.c policy/policy.h   tollgate release builds the policy: release route and Redis state
ops/tollgate_state.c policy/release.h  tollgate release calls release_message(), the AM.PDP release path
ops/tollgate_state.c state/state.h     tollgate stats --redis and quarantine list read the shared state
'

# .c files allowed over MAX_LINES without a reason in their first comment
MAX_LINES=1000
ALLOW_LONG='
'

# The module of a file: its folder, lib/tables/ apart from lib/.
module_of() {
	case $1 in
	lib/tables/*) echo tables ;;
	*) echo "${1%%/*}" ;;
	esac
}

# The arrow: what each module may include (globs over the header path).
allowed_for() {
	local base='lib/[!/]*' tables='lib/tables/*'
	case $1 in
	lib) echo "$base" ;;
	tables) echo "$tables $base" ;;
	scanners) echo "scanners/* $tables $base" ;;
	routing) echo "routing/* $tables $base" ;;
	state) echo "state/* $base" ;;
	policy) echo "policy/* scanners/* routing/* state/* $tables $base" ;;
	workers) echo "workers/* policy/* scanners/* routing/* state/* $tables $base" ;;
	daemon) echo "daemon/* workers/* policy/* scanners/* routing/* state/* $tables $base" ;;
	ops) echo "ops/* daemon/control.h $tables $base" ;;
	esac
}

MODULES='lib daemon workers policy scanners routing state ops'
# ---------------------------------------------------------------------

top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || { echo "1..1"; echo "not ok 1 - cannot cd to the source tree $top"; exit 1; }

n=0
out=''
point() {	# point OK|NOTOK TEXT
	n=$((n + 1))
	if [ "$1" = OK ]; then out+="ok $n - $2"$'\n'; else out+="not ok $n - $2"$'\n'; fi
}
note() { out+="# $1"$'\n'; }

# allowed_entry FILE HEADER: 0 when the allow-list names it
declare -A used=()
allowed_entry() {
	local f h
	while read -r f h _; do
		[ -n "$f" ] || continue
		# shellcheck disable=SC2053
		if [[ $1 == "$f" && $2 == $h ]]; then
			used["$f $h"]=1
			return 0
		fi
	done <<<"$ALLOW_INCLUDES"
	return 1
}

# every include: FILE LINE HEADER (header resolved to a path from the top)
# shellcheck disable=SC2086 # word lists on purpose
files=$(find $MODULES -name '*.[ch]' | LC_ALL=C sort)
[ -n "$files" ] || { echo "1..1"; echo "not ok 1 - no source files under $top"; exit 0; }
# shellcheck disable=SC2086
incs=$(grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' $files | awk -F: '
	{
		file = $1; line = $2
		match($0, /"[^"]*"/); h = substr($0, RSTART + 1, RLENGTH - 2)
		if (h == "config.h") next
		if (h !~ /\//) { d = file; sub(/\/[^\/]*$/, "", d); h = d "/" h }
		else if (h ~ /^\.\.?\//) {
			d = file; sub(/\/[^\/]*$/, "", d); h = d "/" h
		}
		# normalise a/./b and a/b/../c
		nseg = split(h, s, "/"); k = 0
		for (i = 1; i <= nseg; i++) {
			if (s[i] == "." || s[i] == "") continue
			if (s[i] == ".." && k > 0) { k--; continue }
			p[++k] = s[i]
		}
		h = p[1]; for (i = 2; i <= k; i++) h = h "/" p[i]
		print file, line, h
	}')

declare -A pair_count=() pair_exc=() pair_bad=()
while read -r file line hdr; do
	[ -n "$file" ] || continue
	from=$(module_of "$file")
	to=$(module_of "$hdr")
	ok=0
	rule="$from may include: $(allowed_for "$from")"
	for g in $(allowed_for "$from"); do
		# shellcheck disable=SC2053
		[[ $hdr == $g ]] && ok=1
	done
	key="$from -> $to"
	pair_count[$key]=$((${pair_count[$key]:-0} + 1))
	if [ $ok = 1 ]; then
		continue
	elif allowed_entry "$file" "$hdr"; then
		pair_exc[$key]=$((${pair_exc[$key]:-0} + 1))
	else
		pair_bad[$key]+="$file:$line includes \"$hdr\" against the arrow ($rule)|"
	fi
done <<<"$incs"

while read -r key; do
	[ -n "$key" ] || continue
	if [ -n "${pair_bad[$key]:-}" ]; then
		IFS='|' read -r -a bad <<<"${pair_bad[$key]}"
		for b in "${bad[@]}"; do
			[ -n "$b" ] && point NOTOK "$key: $b"
		done
	else
		e=${pair_exc[$key]:-0}
		point OK "$key: ${pair_count[$key]} include(s)$([ "$e" -gt 0 ] && echo ", $e by the allow-list")"
	fi
done <<<"$(printf '%s\n' "${!pair_count[@]}" | LC_ALL=C sort)"

while read -r f h _; do
	[ -n "$f" ] || continue
	[ -n "${used["$f $h"]:-}" ] || note "allow-list entry \"$f $h\" matches no include any more: delete it"
done <<<"$ALLOW_INCLUDES"

# long .c files: a reason in the first comment, or the allow-list
nlong=0
for f in $files; do
	case $f in *.c) ;; *) continue ;; esac
	lines=$(wc -l <"$f")
	[ "$lines" -gt "$MAX_LINES" ] || continue
	nlong=$((nlong + 1))
	if sed -n '1,/\*\//p' "$f" | grep -q 'Why so long:'; then
		point OK "$f: $lines lines, the reason is in its first comment"
	elif awk -v f="$f" '$1 == f { found = 1 } END { exit !found }' <<<"$ALLOW_LONG"; then
		point OK "$f: $lines lines, allow-listed: $(awk -v f="$f" '$1 == f { $1 = ""; sub(/^ /, ""); print }' <<<"$ALLOW_LONG")"
	else
		point NOTOK "$f: $lines lines (over $MAX_LINES) without \"Why so long:\" in its first comment"
	fi
done
[ "$nlong" -gt 0 ] || point OK "no .c file over $MAX_LINES lines"
while read -r f _; do
	[ -n "$f" ] || continue
	if [ ! -f "$f" ] || [ "$(wc -l <"$f")" -le "$MAX_LINES" ]; then
		note "long-file allow-list entry $f is no longer over $MAX_LINES lines: delete it"
	fi
done <<<"$ALLOW_LONG"

echo "1..$n"
printf '%s' "$out"
