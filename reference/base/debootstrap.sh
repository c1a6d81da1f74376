# debootstrap.sh: what the image builds made with debootstrap share (the
# base of the reference servers, reference/base/build.sh, and the ssh
# engine of the remote test, lab/engine/sshd/build.sh). Sourced after
# setting $who; it makes sure debootstrap and Debian's archive keyring are
# installed, sets $mirror, $security and $verify (debootstrap's options that
# make it check every Release file's signature against that keyring and
# refuse what does not verify), makes the scratch root $root (removed on
# exit) and defines fail, which ends the build with the last lines of
# $root.log.
#
#   MIRROR=<url>          a Debian mirror (default: the one /etc/apt uses)
#   SECURITY_MIRROR=<url> its security archive (default: <mirror>-security)
#   SNAPSHOT=<timestamp>  pin to snapshot.debian.org at that moment

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if ! command -v debootstrap >/dev/null 2>&1 || [ ! -f "$keyring" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "$who: installing debootstrap and debian-archive-keyring"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap debian-archive-keyring >/dev/null
	else
		echo "$who: debootstrap or Debian's archive keyring is missing; install them: sudo apt-get install debootstrap debian-archive-keyring" >&2
		exit 1
	fi
fi
# Without a keyring debootstrap only warns that it cannot check the Release
# signature and goes on; with these it checks, and stops on a bad one.
verify="--force-check-gpg --keyring=$keyring"

# The mirror is the one this machine's apt already uses, so the build reaches
# exactly what apt-get reaches. MIRROR or SNAPSHOT override it.
mirror=${MIRROR:-} security=${SECURITY_MIRROR:-}
if [ -n "${SNAPSHOT:-}" ]; then
	mirror=http://snapshot.debian.org/archive/debian/$SNAPSHOT
	security=http://snapshot.debian.org/archive/debian-security/$SNAPSHOT
fi
if [ -z "$mirror" ]; then
	mirror=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
		grep -v -- '-security' | grep -E '/debian/?$|/debian ' | head -n1 |
		sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//' || true)
fi
if [ -z "$mirror" ]; then
	echo "$who: could not find a Debian mirror in /etc/apt; set MIRROR=<url of a Debian mirror>" >&2
	exit 1
fi
mirror=${mirror%/}
security=${security:-$mirror-security}

root=$(mktemp -d /tmp/linelab-$who.XXXXXX)
# An interrupted debootstrap leaves proc and sys mounted in the chroot:
# unmount them first, and never let rm cross into another file system.
cleanup() {
	for m in proc sys; do umount -l "$root/$m" 2>/dev/null || true; done
	rm -rf --one-file-system "$root" "$root.log"
}
trap cleanup EXIT
fail() {
	echo "$who: $1; the last lines of $root.log:" >&2
	tail -n 20 "$root.log" >&2
	exit 1
}
