#!/usr/bin/env bash
# build.sh builds linelab/sshd, the "other machine" of the lab's remote
# engine test (lab/runner/remote_docker_test.go): Debian bookworm's
# openssh-server and the docker command line (the /usr/bin/docker of
# Debian's docker.io package, nothing else of it), made with debootstrap
# from the machine's own apt mirror and imported with `docker import`.
# The test starts it with this machine's Docker socket inside, so that
# DOCKER_HOST=ssh://root@127.0.0.1:<port> reaches this engine the way a
# remote one is reached: ssh, then `docker system dial-stdio` there.
#
#   lab/engine/sshd/build.sh [--force]
#
# The container needs AUTHORIZED_KEY (a public key line) in its
# environment and /var/run/docker.sock mounted. Skipped when the image
# exists.
set -euo pipefail
image=linelab/sshd release=bookworm
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" != --force ] && docker image inspect "$image" >/dev/null 2>&1; then
	echo "sshd: $image exists (use --force to rebuild)"
	exit 0
fi
who=sshd
. "$here/../../../reference/base/debootstrap.sh"

start=$(date +%s)
echo "sshd: debootstrap $release with openssh-server from $mirror (a minute or two)"
debootstrap $verify --variant=minbase --include=openssh-server "$release" "$root" "$mirror" >"$root.log" 2>&1 ||
	fail "debootstrap failed"

# The docker command line only: the daemon, containerd and runc stay out.
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" sh -c 'apt-get update -q && cd /tmp && apt-get download -q docker.io && dpkg-deb -x docker.io_*.deb /tmp/d && cp /tmp/d/usr/bin/docker /usr/bin/docker && rm -rf /tmp/d /tmp/docker.io_*.deb' >>"$root.log" 2>&1 ||
	fail "could not take the docker command line from Debian's docker.io"
: >"$root/etc/resolv.conf"
openssh=$(chroot "$root" dpkg-query -W -f='${Version}' openssh-server)

cat >"$root/etc/ssh/sshd_config.d/linelab.conf" <<'CONF'
# A key only, for root: the test's own, from AUTHORIZED_KEY.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
# PAM's session modules want an audit capability a container lacks.
UsePAM no
CONF
cat >"$root/usr/local/bin/sshd-start" <<'START'
#!/bin/sh
set -e
if [ -z "$AUTHORIZED_KEY" ]; then
	echo "sshd-start: set AUTHORIZED_KEY to the public key that may log in as root" >&2
	exit 2
fi
mkdir -p /run/sshd /root/.ssh
chmod 700 /root/.ssh
printf '%s\n' "$AUTHORIZED_KEY" >/root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
ssh-keygen -A >/dev/null
exec /usr/sbin/sshd -D -e
START
chmod 755 "$root/usr/local/bin/sshd-start"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*

tar -C "$root" -c . | docker import \
	--change "LABEL org.linelab.sshd=$release runtime.openssh=$openssh" \
	--change 'EXPOSE 22' \
	--change 'CMD ["/usr/local/bin/sshd-start"]' \
	- "$image" >/dev/null
echo "sshd: built $image in $(($(date +%s) - start)) s ($(chroot "$root" /usr/bin/docker --version 2>/dev/null || echo docker))"
