#!/usr/bin/env bash
# scripts/fuzz.sh: run every Go fuzz target in the module for a short budget.
#
# Finds the packages whose _test.go files declare `func FuzzXxx`, asks
# `go test -list '^Fuzz'` for the exact targets, and runs each one on its own
# (go test -fuzz accepts one target in one package at a time).
#
# Usage:  scripts/fuzz.sh [regexp]   only targets whose name matches regexp
# Env:    FUZZTIME  budget per target (default 20s)
#
# New failing inputs are written by Go to the package's testdata/fuzz/FuzzXxx/
# directory; commit them so they become regression seeds.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FUZZTIME="${FUZZTIME:-20s}"
filter="${1:-.}"

say() { printf '[fuzz] %s\n' "$*"; }

# Packages with at least one fuzz function in their test files. Listing the
# targets compiles each package's tests, so grep first to keep it quick.
candidates=()
while read -r pkg dir; do
	if compgen -G "$dir/*_test.go" >/dev/null &&
		grep -qE '^func Fuzz[A-Z0-9_]' "$dir"/*_test.go; then
		candidates+=("$pkg")
	fi
done < <(go list -e -f '{{.ImportPath}} {{.Dir}}' ./...)

if [[ ${#candidates[@]} -eq 0 ]]; then
	say "no fuzz targets found"
	exit 0
fi

failed=()
ran=0
for pkg in "${candidates[@]}"; do
	if ! listing="$(go test -list '^Fuzz' "$pkg" 2>&1)"; then
		say "cannot list fuzz targets of $pkg:"
		printf '%s\n' "$listing" | sed 's/^/    /'
		failed+=("$pkg (does not compile)")
		continue
	fi
	while read -r target; do
		[[ "$target" =~ ^Fuzz ]] || continue
		[[ "$target" =~ $filter ]] || continue
		say "$pkg $target for $FUZZTIME"
		ran=$((ran + 1))
		if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg"; then
			failed+=("$pkg $target")
		fi
	done <<<"$listing"
done

say "ran $ran fuzz target(s) for $FUZZTIME each"
if [[ ${#failed[@]} -gt 0 ]]; then
	say "FAILED:"
	printf '    %s\n' "${failed[@]}"
	exit 1
fi
say "all fuzz targets passed"
