#!/usr/bin/env bash
# cache-clean.sh: forget the cached chroots and Go build cache in PKG_CACHE
# (refuses while anything is mounted below them).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=packaging/scripts/lib.sh
. packaging/scripts/lib.sh
for d in "$PKG_CACHE"/bullseye "$PKG_CACHE"/bullseye.tmp "$PKG_CACHE"/bookworm.tmp \
	"$PKG_CACHE"/gocache-bullseye "$PKG_CACHE"/walkthrough-apt "$PKG_CACHE"/run.*; do
	[ -e "$d" ] || continue
	rm_tree "$d"
	say "removed $d"
done
rm -f "$PKG_CACHE"/bookworm-test.tar "$PKG_CACHE"/*.log
