#!/bin/sh
# conf2man.sh - tollgate.conf(5) from the reference (ops/tollgate.conf,
# what "tollgated -r" prints): conf2man.sh REFERENCE > tollgate.conf.5
# Each "# help" line followed by "#name = default" becomes one .TP entry.
set -e
ref=$1
cat <<'HEAD'
.TH TOLLGATE.CONF 5 "2026" "tollgate" "File Formats Manual"
.SH NAME
tollgate.conf \- tollgated configuration
.SH DESCRIPTION
The configuration of
.BR tollgated (8)
is Postfix\-style: one
.IB name " = " value
per logical line; a line that starts with white space continues the
previous one; lines whose first non\-blank character is
.B #
are comments.
Values may refer to other settings as
.BR $name ,
.B ${name}
or
.BR $(name) ;
.B $$
is a literal dollar sign.
Times are seconds unless suffixed with s, m, h, d or w; sizes are bytes
unless suffixed with k, m or g; booleans are yes or no.
.PP
.B tollgated \-d
prints every default,
.B tollgated \-n
what a file sets, and
.B tollgate check\-config
checks a file.
.SH PARAMETERS
HEAD
awk '
	/^# / && !/^# tollgate\.conf/ && !/^# Generated/ && !/^# Syntax/ && !/^# previous/ { help = substr($0, 3); next }
	/^#[a-z_]+ = / {
		name = $0; sub(/^#/, "", name); sub(/ = .*/, "", name)
		def = $0; sub(/^#[a-z_]+ = /, "", def)
		gsub(/\\/, "\\e", help); gsub(/\\/, "\\e", def)
		gsub(/-/, "\\-", help); gsub(/-/, "\\-", def)
		print ".TP"
		print ".B " name
		print "\\&" help
		print ".br"
		if (def == "") print "Default: empty."; else print "Default: \\fB" def "\\fR."
		help = ""
	}' "$ref"
cat <<'TAIL'
.SH SEE ALSO
.BR tollgated (8),
.BR tollgate (1),
.BR postconf (5)
TAIL
