#!/usr/bin/env bash
# package.sh: build the nutslave and nutslave-master packages, .deb and
# .rpm, into $DIST. Run by "make package" (packaging/package.mk), which
# passes VERSION, DIST, GO and NFPM.
#
#   upsslave            CGO_ENABLED=0, static, built on this machine
#   upsflags, upsusb    cgo + libusb-1.0, PIE (Debian's hardening), built
#                       in a Debian 11 (bullseye)
#                       chroot so that they need only glibc 2.31 or older
#                       symbols (PKG_CGO=bullseye; needs root and the
#                       Debian mirror once). PKG_CGO=host builds them
#                       here instead; the default, auto, falls back to the
#                       host with a warning when the chroot cannot be had.
#                       The libc6 / libc.so.6(GLIBC_x) dependency always
#                       matches the binaries actually packaged.
#
# Packages are reproducible: SOURCE_DATE_EPOCH (default: the last commit's
# time) fixes every timestamp. The list of packages built is written to
# $DIST/packages.txt; the glibc floor to $PKG_STAGE/glibc-floor.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=packaging/scripts/lib.sh
. packaging/scripts/lib.sh

VERSION=${VERSION:?VERSION must be set (make package sets it from git describe)}
DIST=${DIST:-dist}
GO=${GO:-go}
NFPM=${NFPM:?NFPM must name the nfpm binary}
PKG_STAGE=${PKG_STAGE:-$DIST/pkg}
PKG_RELEASE=${PKG_RELEASE:-1}
PKG_CGO=${PKG_CGO:-auto}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
PKG_VERSION=${PKG_VERSION:-$(packaging/scripts/pkgversion.sh "$VERSION" "$SOURCE_DATE_EPOCH")}
GOARCH=${GOARCH:-$($GO env GOARCH)}
LDFLAGS="-s -w -X main.version=$VERSION"
export SOURCE_DATE_EPOCH PKG_VERSION PKG_RELEASE GOARCH PKG_STAGE

# ---- the binaries must be the real ones --------------------------------------

for c in upsslave upsflags upsusb; do
	name=$($GO list -f '{{.Name}}' "./cmd/$c" 2>/dev/null) || name=
	[ "$name" = main ] || die "./cmd/$c is not a main package yet; packaging needs the real binaries (make build), not stubs"
done

rm -rf "$PKG_STAGE"
mkdir -p "$PKG_STAGE"/{bin,man,rpm,doc} "$DIST"
rm -f "$DIST"/nutslave*_*.deb "$DIST"/nutslave*-*.rpm "$DIST/packages.txt"
stage=$(cd "$PKG_STAGE" && pwd)

say "building upsslave (static) $VERSION"
CGO_ENABLED=0 $GO build -trimpath -buildvcs=false -tags urfave_cli_no_docs -ldflags "$LDFLAGS" -o "$stage/bin/upsslave" ./cmd/upsslave

build_cgo_host() {
	say "building upsflags, upsusb with cgo against this machine's glibc"
	CGO_ENABLED=1 $GO build -buildmode=pie -trimpath -buildvcs=false -tags urfave_cli_no_docs -ldflags "$LDFLAGS" -o "$stage/bin/" ./cmd/upsflags ./cmd/upsusb
}

build_cgo_bullseye() {
	need_root "the bullseye build (PKG_CGO=bullseye)"
	ensure_bullseye
	local ch=$BULLSEYE goroot modcache gocache=$PKG_CACHE/gocache-bullseye
	goroot=$($GO env GOROOT)
	modcache=$($GO env GOMODCACHE)
	$GO mod download
	mkdir -p "$gocache" "$ch/usr/local/go" "$ch/src" "$ch/out" "$ch/gomod" "$ch/gocache"
	say "building upsflags, upsusb with cgo in the bullseye chroot"
	mnt --bind "$goroot" "$ch/usr/local/go"
	mount -o remount,bind,ro "$ch/usr/local/go"
	mnt --bind "$PWD" "$ch/src"
	mount -o remount,bind,ro "$ch/src"
	mnt --bind "$modcache" "$ch/gomod"
	mount -o remount,bind,ro "$ch/gomod"
	mnt --bind "$gocache" "$ch/gocache"
	mnt --bind "$stage/bin" "$ch/out"
	mnt -t proc proc "$ch/proc"
	chroot "$ch" env -i HOME=/root PATH=/usr/local/go/bin:/usr/bin:/bin GOROOT=/usr/local/go \
		GOMODCACHE=/gomod GOCACHE=/gocache GOPROXY=off GOFLAGS=-mod=readonly GOTOOLCHAIN=local \
		GOTELEMETRY=off CGO_ENABLED=1 \
		sh -c 'cd /src && go build -buildmode=pie -trimpath -buildvcs=false -tags urfave_cli_no_docs -ldflags "$1" -o /out/ ./cmd/upsflags ./cmd/upsusb' \
		sh "$LDFLAGS"
	umount_all
}

case $PKG_CGO in
host) build_cgo_host ;;
bullseye) build_cgo_bullseye ;;
auto)
	if [ "$(id -u)" -eq 0 ] && command -v debootstrap >/dev/null && with_cache_lock build_bullseye_chroot; then
		build_cgo_bullseye
	else
		say "WARNING: the bullseye build failed or is impossible here (needs root, debootstrap"
		say "WARNING: and the Debian mirror); building against this machine's glibc instead"
		build_cgo_host
	fi
	;;
*) die "PKG_CGO must be auto, bullseye or host, not $PKG_CGO" ;;
esac

# ---- what the binaries need, and what they promise ----------------------------

if readelf -lW "$stage/bin/upsslave" | grep -q INTERP; then
	die "upsslave is dynamically linked; it must be built with CGO_ENABLED=0"
fi
floor=$(objdump -T "$stage/bin/upsflags" "$stage/bin/upsusb" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
[ -n "$floor" ] || die "found no GLIBC_ symbol versions in upsflags/upsusb; are they cgo binaries?"
export GLIBC_FLOOR=$floor
echo "$floor" >"$stage/glibc-floor"
for b in upsflags upsusb; do
	say "$b needs GLIBC_$(objdump -T "$stage/bin/$b" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)," \
		"$(objdump -p "$stage/bin/$b" | awk '/NEEDED/ {printf "%s ", $2}')"
done

for b in upsslave upsflags upsusb; do
	out=$("$stage/bin/$b" --version 2>&1) || die "$b --version failed: $out"
	case $out in
	*"$VERSION"*) ;;
	*) die "$b --version prints \"$out\", which lacks the version $VERSION (-X main.version)" ;;
	esac
	"$stage/bin/$b" man >"$stage/man/$b.8" 2>/dev/null || die "$b has no \"man\" subcommand printing its man page"
	grep -q '^\.TH ' "$stage/man/$b.8" || die "\"$b man\" does not print a roff man page (no .TH line)"
	gzip -9n <"$stage/man/$b.8" >"$stage/man/$b.8.gz"
	rm "$stage/man/$b.8"
	# Every subcommand the bash completion offers must exist.
	help=$("$stage/bin/$b" --help 2>&1 || true)
	for sub in $(sed -n "s/.*case \$w in \(.*\)) return ;; esac/\1/p" "packaging/completion/$b" | tr -d '|'); do
		grep -qE "^ +$sub([ ,]|$)" <<<"$help" || die "packaging/completion/$b offers \"$sub\", which \"$b --help\" does not list"
	done
done

# ---- generated files ----------------------------------------------------------

for c in upsslave upsflags; do
	sed 's#/etc/nut/#/etc/ups/#g' "packaging/etc/$c.conf" >"$stage/rpm/$c.conf"
done
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
for p in nutslave nutslave-master; do
	{
		printf '%s (%s-%s) unstable; urgency=medium\n\n' "$p" "$PKG_VERSION" "$PKG_RELEASE"
		printf '  * Built with nfpm from nutslave %s (commit %s).\n\n' "$VERSION" "$commit"
		printf ' -- nutslave maintainers <nutslave@example.invalid>  %s\n' "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
	} | gzip -9n >"$stage/doc/$p.changelog.gz"
done

# ---- the packages ---------------------------------------------------------------

out=$(mktemp -d)
TMPDIRS+=("$out")
for fmt in deb rpm; do
	"$NFPM" package -f nfpm.yaml -p "$fmt" -t "$out/" >/dev/null
	"$NFPM" package -f packaging/nfpm-master.yaml -p "$fmt" -t "$out/" >/dev/null
done
: >"$DIST/packages.txt"
for f in "$out"/*; do
	mv -f "$f" "$DIST/"
	echo "$DIST/$(basename "$f")" >>"$DIST/packages.txt"
	say "built $DIST/$(basename "$f")"
done
say "version $PKG_VERSION-$PKG_RELEASE; upsflags/upsusb need glibc >= $floor"
