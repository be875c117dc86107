#!/bin/sh
# pkgversion.sh DESCRIBE [EPOCH]: map "git describe --tags --always --dirty"
# output to a version that dpkg and rpm both accept and sort correctly.
#
#   v1.2.3                    -> 1.2.3               (tags need a dot)
#   v1.2.3-rc1                -> 1.2.3~rc1          (before 1.2.3)
#   v1.2.3-4-gabcdef0         -> 1.2.3+git4.abcdef0 (after 1.2.3)
#   abcdef0 (no tag yet)      -> 0.0.0~gitYYYYMMDDhhmmss.abcdef0
#   any of these + "-dirty"   -> the same + ".dirty"
#
# YYYYMMDDhhmmss is the UTC time of EPOCH (default: SOURCE_DATE_EPOCH, else
# the last commit), so that a newer commit sorts higher. "~" needs rpm >=
# 4.10 (EL7 and later).
set -eu

d=${1:?usage: pkgversion.sh DESCRIBE [EPOCH]}
epoch=${2:-${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}}

dirty=
case $d in
*-dirty)
	dirty=.dirty
	d=${d%-dirty}
	;;
esac
d=${d#v}

if printf '%s\n' "$d" | grep -Eq '^[0-9]+(\.[0-9]+)+(-[0-9A-Za-z.]+)?-[0-9]+-g[0-9a-f]+$'; then
	# tag-N-gHASH, the tag possibly with a pre-release part
	hash=${d##*-g}
	rest=${d%-g*}
	n=${rest##*-}
	tag=${rest%-*}
	base=$(printf '%s' "$tag" | sed 's/-/~/')
	v=$base+git$n.$hash
elif printf '%s\n' "$d" | grep -Eq '^[0-9]+(\.[0-9]+)+(-[0-9A-Za-z.]+)?$'; then
	v=$(printf '%s' "$d" | sed 's/-/~/')
elif printf '%s\n' "$d" | grep -Eq '^[0-9a-f]{4,40}$'; then
	v=0.0.0~git$(date -u -d "@$epoch" +%Y%m%d%H%M%S).$d
else
	echo "pkgversion.sh: cannot make a package version from \"$1\"" >&2
	exit 1
fi
printf '%s%s\n' "$v" "$dirty"
