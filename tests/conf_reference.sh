#!/bin/sh
# conf_reference.sh - ops/tollgate.conf must be exactly what "tollgated -r"
# prints, so the shipped reference never drifts from the parameter table.
echo "1..2"
bin="${top_builddir:-.}/tollgated"
ref="${top_srcdir:-.}/ops/tollgate.conf"
if "$bin" -r > ref.out.$$ 2>&1 && cmp -s ref.out.$$ "$ref"; then
	echo "ok 1 - ops/tollgate.conf matches tollgated -r"
else
	echo "not ok 1 - ops/tollgate.conf differs from tollgated -r (regenerate it)"
	diff "$ref" ref.out.$$ | sed 's/^/# /' | head -20
fi
rm -f ref.out.$$
if "$bin" -h | grep -q -- '-r          print the commented reference'; then
	echo "ok 2 - --help documents -r"
else
	echo "not ok 2 - --help lacks -r"
fi
