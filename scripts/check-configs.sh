#!/usr/bin/env bash
# scripts/check-configs.sh: validate every configuration example shipped in
# the repository with `switchboard check-config`, as an operator would:
#   deploy/demo.yaml (make run, compose) and the config embedded in the
#   Kubernetes ConfigMap (deploy/k8s/switchboard.yaml, key switchboard.yaml).
# Exits non-zero naming the example that fails.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '[check-configs] %s\n' "$*"; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/switchboard" ./cmd/switchboard

# The ConfigMap's block scalar: the lines after "  switchboard.yaml: |" that
# are indented deeper than the key, with that indentation taken off.
awk '/^  switchboard\.yaml: \|/{on=1; next}
     on && NF > 0 && !/^    /{exit}
     on{sub(/^    /, ""); print}' deploy/k8s/switchboard.yaml >"$tmp/k8s.yaml"
[[ -s "$tmp/k8s.yaml" ]] || { say "no switchboard.yaml block found in deploy/k8s/switchboard.yaml"; exit 1; }

failed=0
for example in deploy/demo.yaml "$tmp/k8s.yaml"; do
	name="$example"
	[[ "$example" == "$tmp/k8s.yaml" ]] && name="deploy/k8s/switchboard.yaml (ConfigMap switchboard-config)"
	if out="$("$tmp/switchboard" check-config --config "$example" 2>&1)"; then
		say "ok: $name"
	else
		say "FAILED: $name"
		printf '%s\n' "$out" | sed 's/^/    /'
		failed=1
	fi
done
exit "$failed"
