#!/usr/bin/env bash
# Runs every fuzz target in the module for a fixed number of executions each
# ($1, default 30000x).
#
# The budget is a count, never a duration: with a duration, Go's fuzz
# coordinator can report "context deadline exceeded" and fail a target that
# found nothing when a loaded machine starves its workers at the deadline
# (go.dev/issue/75804). A count has no deadline to race; -timeout still bounds
# a target that hangs.
set -euo pipefail
budget=${1:-30000x}
case $budget in
*x) ;;
*) echo "fuzz.sh: budget must be an execution count such as 30000x, not $budget" >&2; exit 2 ;;
esac
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "fuzz: $pkg $target ($budget)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" -timeout 5m "$pkg"
	done
done
