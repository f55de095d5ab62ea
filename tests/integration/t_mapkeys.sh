#!/bin/bash
# t_mapkeys.sh - the lookup keys of an address (lib/tables/table.h,
# maps_lookup_addr) against amavisd-new's own make_query_keys(), and the
# Postfix-shaped tables against Postfix's own postmap.
#
#  1. For each address and recipient delimiter, the order in which
#     "tollgate map -a" tries keys is found through the tool itself: a
#     table holding every candidate key (value = the key) answers with
#     the first key tried; that key is taken out and the address asked
#     again, until nothing answers. The candidates are amavisd's keys
#     plus the forms a Postfix-minded lookup would add (bare local part,
#     "@domain" of parents, "<>"), so an extra key shows too. The order
#     must be what amavisd-new's lookup_hash() tries (make_query_keys with
#     at_with_user and include_bare_user, from Debian's amavisd-new, run
#     here with perl), folded, with "@domain" right after the bare domain
#     and "<>" for amavisd's empty key of the null address.
#  2. texthash, regexp, pcre and cidr files: "tollgate map -q KEY" and
#     "postmap -q KEY" give the same value and the same exit status.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
TOLLGATE=${TOLLGATE:-$top_builddir/tollgate}
[ -x "$TOLLGATE" ] || bail_out "tollgate not built ($TOLLGATE)"
require_cmd perl
[ -f /usr/share/perl5/Amavis/rfc2821_2822_Tools.pm ] || bail_out "amavisd-new's Perl modules are missing (apt-get install amavisd-new)"
[ -x "$PF_SBIN/postmap" ] || bail_out "postmap is missing (postfix)"

plan 50

# amavisd_keys DELIM - for each address on stdin ("<>" for the null
# address), one line: the keys lookup_hash() tries, as tollgate must try
# them (folded, duplicates dropped, "@domain" after the domain, "" as
# "<>"), separated by TABs. make_query_keys reads two settings through
# Amavis::Conf::c(); they are set as amavisd.conf would.
amavisd_keys() {
	perl -e '
use strict; use warnings;
use Exporter ();		# Amavis::Conf calls Exporter::export_tags at compile time
use Amavis::Conf ();
use Amavis::rfc2821_2822_Tools qw(make_query_keys);
$Amavis::Conf::current_policy_bank{recipient_delimiter} = $ARGV[0];
$Amavis::Conf::current_policy_bank{localpart_is_case_sensitive} = 0;
while (my $addr = <STDIN>) {
	chomp $addr;
	$addr = "" if $addr eq "<>";
	my ($keys, $rhs) = make_query_keys($addr, 1, 1);	# as lookup_hash() calls it
	my $domain = $rhs->[4];
	my (@out, %seen);
	for my $k (@$keys) {
		my $f = lc $k;
		$f = "<>" if $f eq "" && $addr eq "";
		next if $f eq "" || $seen{$f}++;
		push @out, $f;
		if ($domain ne "" && $f eq $domain && !$seen{"\@$domain"}++) {
			push @out, "\@$domain";
		}
	}
	print join("\t", @out), "\n";
}' "$1" 2>"$TG_TMP/perl.err"
}

# candidates ADDR AMAVISD-KEYS - every key either side might try, one a line
candidates() {
	local addr=$1 local=${1%@*} dom="" d
	[ "$addr" != "${addr#*@}" ] && dom=${addr##*@}
	{
		printf '%s\n' "$2" | tr '\t' '\n'
		printf '%s\n' "<>" "@" "." "$local" "${local%%+*}" "${local%%[-+]*}" "${local,,}" "${local%%+*}@"
		d=${dom,,}
		while [ -n "$d" ]; do
			printf '%s\n' "@$d" ".$d" "$d"
			[ "$d" = "${d#*.}" ] && break
			d=${d#*.}
		done
	} | grep -v '^$' | tr 'A-Z' 'a-z' | sort -u
}

# tollgate_keys ADDR DELIM CANDIDATES - the keys "tollgate map -a" tries,
# in order, TAB-separated
tollgate_keys() {
	local addr=$1 delim=$2 left=$3 got=() v spec k n=0
	while [ -n "$left" ] && [ "$n" -lt 60 ]; do
		n=$((n + 1))
		spec="inline:{"
		while IFS= read -r k; do spec+=" { $k = $k }"; done <<<"$left"
		spec+=" }"
		v=$("$TOLLGATE" map -a -d "$delim" -q "$addr" "$spec" 2>>"$TG_TMP/map.err") || break
		got+=("$v")
		left=$(grep -vxF -- "$v" <<<"$left")
	done
	local IFS=$'\t'
	printf '%s\n' "${got[*]}"
}

ADDRS=(
	'User+Foo@Sub.Example.COM' 'user@example.com' 'a+b+c@x.example.org' 'user+@example.com'
	'+x@h.example' 'postmaster@example.com' 'postmaster+x@example.com' 'Mailer-Daemon@example.com'
	'double-bounce@example.com' 'owner-list@example.com' 'owner-list+x@example.com'
	'list-request@example.com' 'user-ext@example.com' 'u@Example.COM.' '@example.com' 'user'
	'user+ext' '<>' 'a@[192.0.2.1]' 'x@localhost' 'a@b@c.example'
	"u@$(printf 'l%d.' $(seq 0 24))org"
)
for delim in '+' '+-'; do
	i=0
	while IFS= read -r want; do
		addr=${ADDRS[$i]}
		i=$((i + 1))
		q=$addr
		[ "$q" = "<>" ] && q=""
		got=$(tollgate_keys "$q" "$delim" "$(candidates "$q" "$want")")
		if [ "$got" = "$want" ]; then
			ok "delimiter '$delim': $addr: tollgate tries amavisd's keys in amavisd's order ($(tr '\t' ' ' <<<"$got" | cut -c1-150))"
		else
			not_ok "delimiter '$delim': $addr: tollgate's keys are amavisd's"
			diag "amavisd: $(tr '\t' ' ' <<<"$want")" "tollgate: $(tr '\t' ' ' <<<"$got")"
		fi
	done < <(printf '%s\n' "${ADDRS[@]}" | amavisd_keys "$delim")
	is "$i" "${#ADDRS[@]}" "delimiter '$delim': amavisd's make_query_keys answered for every address"
done

# ---------------------------------------------- 2. the same answers as postmap
mkdir -p "$TG_TMP/pfconf"
: >"$TG_TMP/pfconf/main.cf"
T=$TG_TMP/tables
mkdir -p "$T"
cat >"$T/th" <<'EOF'
# a comment, then a blank line

Example.COM      exact domain
user@example.com   full address
  continued   value
@example.org	at-domain
dup first
dup second
EOF
cat >"$T/re" <<'EOF'
/^(.*)@example\.com$/   local=$1
/^admin@/               ADMIN
/^CaseSens$/i           case-sensitive
if /@example\.net$/
/^a@/                   a-at-net
endif
!/\.org$/               not-org
EOF
cat >"$T/pcre" <<'EOF'
/^(\w+)\+(\w+)@/        user=$1 ext=$2
/^(.*)@example\.com$/   local=$1
/^CaseSens$/i           case-sensitive
if /@example\.net$/
/^a@/                   a-at-net
endif
!/\.org$/               not-org
EOF
cat >"$T/cidr" <<'EOF'
192.0.2.0/24     net24
192.0.2.1        host
10.0.0.0/8       ten
2001:db8::/32    v6net
::1              v6lo
EOF
# same TYPE FILE KEY... - tollgate map and postmap agree on each key
same() {
	local type=$1 file=$2 k t p bad=""
	shift 2
	for k in "$@"; do
		t=$("$TOLLGATE" map -q "$k" "$type:$file" 2>/dev/null; echo "rc=$?")
		p=$("$PF_SBIN/postmap" -c "$TG_TMP/pfconf" -q "$k" "$type:$file" 2>/dev/null; echo "rc=$?")
		[ "$t" = "$p" ] || bad+=" [$k: tollgate '$(tr '\n' ' ' <<<"$t")' postmap '$(tr '\n' ' ' <<<"$p")']"
	done
	if [ -z "$bad" ]; then ok "$type: tollgate map -q and postmap -q agree on $# keys"; else not_ok "$type: tollgate map -q and postmap -q agree"; diag "$bad"; fi
}
same texthash "$T/th" example.com EXAMPLE.com Example.COM user@example.com User@Example.com @example.org \
	dup missing example.org .example.com
same regexp "$T/re" joe@example.com Joe@Example.COM admin@x.org Admin@X.ORG a@b.org foo.net CaseSens casesens \
	a@example.net b@example.net A@EXAMPLE.NET ""
same pcre "$T/pcre" joe+ext@example.com joe@example.com Joe@Example.COM a@b.org foo.net CaseSens casesens \
	a@example.net b@example.net A@EXAMPLE.NET
same cidr "$T/cidr" 192.0.2.1 192.0.2.200 10.1.2.3 2001:db8::5 2001:DB8::5 ::1 198.51.100.1 foo 192.0.2
