#!/usr/bin/env bash
# build.sh builds linelab/base: a Debian bookworm minbase with python3, gevent,
# Twisted, node.js, aiohttp (the asyncio server's HTTP client) and gcc for the
# C floor server, made with debootstrap from the machine's own apt mirror and
# imported with `docker import`. Nothing is pulled from a registry.
#
#   reference/base/build.sh          build it unless it exists
#   reference/base/build.sh --force  rebuild it
#
# The package versions of the image are written to reference/base/VERSIONS.txt
# and stamped on the image as labels (runtime.python, runtime.gevent, ...).
set -euo pipefail

image=${BASE_IMAGE:-linelab/base:bookworm}
here=$(cd "$(dirname "$0")" && pwd)
packages=python3,python3-cffi-backend,python3-gevent,python3-twisted,python3-aiohttp,nodejs,ca-certificates,gcc,libc6-dev

# An image built from another package list (an older checkout) is rebuilt:
# the servers would not find what they import.
if [ "${1:-}" != "--force" ] && docker image inspect "$image" >/dev/null 2>&1; then
	have=$(docker image inspect -f '{{index .Config.Labels "org.linelab.packages"}}' "$image")
	if [ "$have" = "$packages" ]; then
		echo "base: $image exists (use --force to rebuild)"
		exit 0
	fi
	echo "base: $image was built from other packages ($have); rebuilding"
fi

if ! command -v debootstrap >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "base: installing debootstrap"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
	else
		echo "base: debootstrap is missing; install it: sudo apt-get install debootstrap" >&2
		exit 1
	fi
fi

# The mirror is the one this machine's apt already uses, so the build reaches
# exactly what apt-get reaches. MIRROR overrides it.
mirror=${MIRROR:-}
if [ -z "$mirror" ]; then
	mirror=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
		grep -v -- '-security' | grep -E '/debian/?$|/debian ' | head -n1 |
		sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//' || true)
fi
if [ -z "$mirror" ]; then
	echo "base: could not find a Debian mirror in /etc/apt; set MIRROR=<url of a Debian mirror>" >&2
	exit 1
fi

root=$(mktemp -d /tmp/linelab-base.XXXXXX)
# An interrupted debootstrap leaves proc and sys mounted in the chroot:
# unmount them first, and never let rm cross into another file system.
cleanup() {
	for m in proc sys; do umount -l "$root/$m" 2>/dev/null || true; done
	rm -rf --one-file-system "$root" "$root.log"
}
trap cleanup EXIT
echo "base: debootstrap bookworm into $root (about a minute)"
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
	echo "base: debootstrap failed; the last lines of $root.log:" >&2
	tail -n 20 "$root.log" >&2
	exit 1
}

ver() { chroot "$root" dpkg-query -W -f='${Version}' "$1"; }
python=$(ver python3); gevent=$(ver python3-gevent); twisted=$(ver python3-twisted); node=$(ver nodejs)
chroot "$root" dpkg-query -W -f='${Package} ${Version}\n' >"$here/VERSIONS.txt"

# Trim what a server never needs; the image stays a plain Debian otherwise.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*

tar -C "$root" -c . | docker import \
	--change "LABEL org.linelab.base=bookworm" \
	--change "LABEL org.linelab.packages=$packages" \
	--change "LABEL runtime.python=$python" \
	--change "LABEL runtime.gevent=$gevent" \
	--change "LABEL runtime.twisted=$twisted" \
	--change "LABEL runtime.node=$node" \
	--change 'ENV LANG=C.UTF-8 PYTHONUNBUFFERED=1' \
	--change 'CMD ["/bin/bash"]' \
	- "$image" >/dev/null
echo "base: built $image (python3 $python, gevent $gevent, twisted $twisted, node $node)"
