#!/usr/bin/env bash
# build.sh builds linelab/base:<release>, the base of every reference image:
# a Debian minbase of that release with python3, gevent, Twisted, aiohttp,
# uvloop, eventlet, tornado (with pycurl), node.js and gcc (for the C floor
# server), made with debootstrap from the machine's own apt mirror, brought up to the
# release's security and point updates, and imported with `docker import`.
# Nothing is pulled from a registry.
#
#   reference/base/build.sh [RELEASE] [--force] [--update]
#
#   RELEASE   bookworm, trixie (the default) or sid
#   --force   rebuild the image even if it exists
#   --update  accept the package versions this build got as the new record
#
# The package versions of each release are recorded in
# reference/base/<release>/VERSIONS.txt and stamped on the image as labels
# (runtime.python, runtime.gevent, ...). A build that gets other versions than
# the record says which, and keeps the record unless --update is given.
#
# Where the packages come from:
#   MIRROR=<url>          a Debian mirror (default: the one /etc/apt uses)
#   SECURITY_MIRROR=<url> its security archive (default: <mirror>-security)
#   SNAPSHOT=<timestamp>  pin the build to snapshot.debian.org at that moment,
#                         e.g. SNAPSHOT=20261101T000000Z (both archives)
set -euo pipefail

release=trixie force= update=
for arg in "$@"; do
	case $arg in
	--force) force=1 ;;
	--update) update=1 ;;
	bookworm | trixie | sid) release=$arg ;;
	*)
		echo "base: unknown argument $arg; usage: build.sh [bookworm|trixie|sid] [--force] [--update]" >&2
		exit 2
		;;
	esac
done

image=${BASE_IMAGE:-linelab/base:$release}
here=$(cd "$(dirname "$0")" && pwd)
record=$here/$release/VERSIONS.txt
packages=python3,python3-cffi-backend,python3-gevent,python3-twisted,python3-aiohttp,python3-uvloop,python3-eventlet,python3-tornado,python3-pycurl,nodejs,ca-certificates,gcc,libc6-dev

# An image built from another package list (an older checkout) is rebuilt:
# the servers would not find what they import.
if [ -z "$force" ] && docker image inspect "$image" >/dev/null 2>&1; then
	have=$(docker image inspect -f '{{index .Config.Labels "org.linelab.packages"}}' "$image")
	if [ "$have" = "$packages" ]; then
		echo "base: $image exists (use --force to rebuild)"
		exit 0
	fi
	echo "base: $image was built from other packages ($have); rebuilding"
fi

who=base
. "$here/debootstrap.sh"

start=$(date +%s)
echo "base: debootstrap $release from $mirror into $root (a minute or two)"
debootstrap $verify --variant=minbase --include="$packages" "$release" "$root" "$mirror" >"$root.log" 2>&1 ||
	fail "debootstrap failed"

# debootstrap reads one archive; the release's security fixes and point
# updates come from two more (sid has neither).
{
	echo "deb $mirror $release main"
	if [ "$release" != sid ]; then
		echo "deb $mirror $release-updates main"
		echo "deb $security $release-security main"
	fi
} >"$root/etc/apt/sources.list"
if [ -n "${SNAPSHOT:-}" ]; then
	# A snapshot's Release files are past their Valid-Until by design.
	echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/10snapshot"
fi
if [ "$release" != sid ]; then
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	{ chroot "$root" apt-get update -q && DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -y -q dist-upgrade; } >>"$root.log" 2>&1 ||
		fail "the security and point updates failed"
	: >"$root/etc/resolv.conf"
fi

ver() { chroot "$root" dpkg-query -W -f='${Version}' "$1"; }
python=$(ver python3) gevent=$(ver python3-gevent) twisted=$(ver python3-twisted) node=$(ver nodejs)
aiohttp=$(ver python3-aiohttp) uvloop=$(ver python3-uvloop) eventlet=$(ver python3-eventlet)
tornado=$(ver python3-tornado) pycurl=$(ver python3-pycurl) gcc=$(ver gcc)
got=$(chroot "$root" dpkg-query -W -f='${Package} ${Version}\n')

# The record: written the first time, compared every time after.
mkdir -p "$(dirname "$record")"
if [ ! -f "$record" ]; then
	printf '%s\n' "$got" >"$record"
	echo "base: recorded $(wc -l <"$record") package versions in reference/base/$release/VERSIONS.txt"
elif ! changes=$(diff <(cat "$record") <(printf '%s\n' "$got")); then
	echo "base: $release's packages differ from reference/base/$release/VERSIONS.txt (< recorded, > this build):"
	printf '%s\n' "$changes" | grep '^[<>]' | sed 's/^/base:   /'
	if [ -n "$update" ]; then
		printf '%s\n' "$got" >"$record"
		echo "base: the record is updated (--update)"
	else
		echo "base: the record is kept; run reference/base/build.sh $release --force --update to accept these versions"
	fi
fi

# Trim what a server never needs; the image stays a plain Debian otherwise.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*

tar -C "$root" -c . | docker import \
	--change "LABEL org.linelab.base=$release" \
	--change "LABEL org.linelab.packages=$packages" \
	--change "LABEL runtime.debian=$release" \
	--change "LABEL runtime.python=$python" \
	--change "LABEL runtime.gevent=$gevent" \
	--change "LABEL runtime.twisted=$twisted" \
	--change "LABEL runtime.node=$node" \
	--change "LABEL runtime.aiohttp=$aiohttp" \
	--change "LABEL runtime.uvloop=$uvloop" \
	--change "LABEL runtime.eventlet=$eventlet" \
	--change "LABEL runtime.tornado=$tornado" \
	--change "LABEL runtime.pycurl=$pycurl" \
	--change "LABEL runtime.gcc=$gcc" \
	--change 'ENV LANG=C.UTF-8 PYTHONUNBUFFERED=1' \
	--change 'CMD ["/bin/bash"]' \
	- "$image" >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$image")
echo "base: built $image in $(($(date +%s) - start)) s, $((size / 1000000)) MB (python3 $python, gevent $gevent, twisted $twisted, node $node)"
