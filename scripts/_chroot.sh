# Sourced by scripts/test-chroot: a Debian sid chroot with CPython 3.14 and 3.15 (Debian
# ships both; pyenv here has neither), built once per machine with debootstrap and cached
# outside the checkout. Needs root.
#
#   chroot_ensure            build it if missing or made from another package list
#   chroot_exec CHECKOUT CMD run CMD in the chroot with /proc, /dev/shm and the checkout (at
#                            /src) mounted in a private mount namespace: every mount goes
#                            away with the command, whatever way it ends
#
# The mirror is the host's own (read from its apt sources). Concurrent runs share the
# chroot under a shared lock; a rebuild takes it exclusively.
set -euo pipefail

CHROOT_CACHE=${AUTOGUARD_CHROOT_CACHE:-/var/cache/otel-autoguard}
CHROOT_DIR="${CHROOT_CACHE}/chroot-sid"
CHROOT_LOCK="${CHROOT_CACHE}/chroot-sid.lock"
CHROOT_SUITE=sid
CHROOT_PACKAGES=python3.14,python3.14-venv,python3.15,python3.15-venv,ca-certificates
# Bump to rebuild every cached chroot (e.g. after changing how it is set up).
CHROOT_RECIPE="1 ${CHROOT_SUITE} ${CHROOT_PACKAGES}"

_chroot_die() {
    echo "scripts/test-chroot: $*" >&2
    exit 1
}

_chroot_mirror() {
    # The first Debian archive the host's apt uses (not its security archive).
    local uri
    uri=$(
        {
            grep -h -s -E '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
            grep -h -s -E '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
                sed -E 's/^deb (\[[^]]*\] )?//' | awk '{print $1}'
        } | grep -v -- '-security' | grep -E '/debian/?$' | head -n 1
    ) || true
    [ -n "$uri" ] || _chroot_die "no Debian archive found in the host's apt sources"
    echo "$uri"
}

_chroot_need_debootstrap() {
    command -v debootstrap >/dev/null && return 0
    echo "scripts/test-chroot: installing debootstrap with apt-get" >&2
    apt-get install -y -q debootstrap >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q debootstrap >/dev/null; } ||
        _chroot_die "debootstrap is missing and apt-get could not install it"
}

_chroot_build() {
    local tmp="${CHROOT_DIR}.building" mirror started
    _chroot_need_debootstrap
    mirror=$(_chroot_mirror)
    # Never rm -rf a tree with something mounted in it (a bind mount of a checkout).
    if findmnt -rn -o TARGET | grep -q -F -e "${CHROOT_DIR}/" -e "${tmp}/"; then
        _chroot_die "something is mounted under ${CHROOT_DIR}; unmount it first"
    fi
    rm -rf "$tmp" "$CHROOT_DIR"
    started=$(date +%s)
    echo "scripts/test-chroot: building the ${CHROOT_SUITE} chroot in ${CHROOT_DIR}" \
         "(debootstrap, a few minutes)" >&2
    if ! debootstrap --variant=minbase --include="$CHROOT_PACKAGES" \
            "$CHROOT_SUITE" "$tmp" "$mirror" >"${CHROOT_CACHE}/debootstrap.log" 2>&1; then
        tail -n 30 "${CHROOT_CACHE}/debootstrap.log" >&2
        _chroot_die "debootstrap failed (log: ${CHROOT_CACHE}/debootstrap.log)"
    fi
    cp /etc/ssl/certs/ca-certificates.crt "$tmp/etc/ssl/certs/ca-certificates.crt"
    mkdir -p "$tmp/src" "$tmp/opt/otel-autoguard"
    echo "$CHROOT_RECIPE" >"$tmp/.otel-autoguard-recipe"
    mv "$tmp" "$CHROOT_DIR"
    echo "scripts/test-chroot: chroot built in $(($(date +%s) - started)) s" >&2
}

chroot_ensure() {
    [ "$(id -u)" = 0 ] || _chroot_die "needs root (debootstrap, mount, chroot)"
    mkdir -p "$CHROOT_CACHE"
    exec {_chroot_lock_fd}>"$CHROOT_LOCK"
    if [ "$(cat "${CHROOT_DIR}/.otel-autoguard-recipe" 2>/dev/null)" != "$CHROOT_RECIPE" ]; then
        flock -x "$_chroot_lock_fd"
        if [ "$(cat "${CHROOT_DIR}/.otel-autoguard-recipe" 2>/dev/null)" != "$CHROOT_RECIPE" ]; then
            _chroot_build
        fi
    fi
    # Held (shared) until this shell exits: no rebuild under a running test.
    flock -s "$_chroot_lock_fd"
    echo "scripts/test-chroot: using the chroot in ${CHROOT_DIR}" >&2
    # The host's resolver and certificates may have changed since the build.
    cp /etc/resolv.conf "${CHROOT_DIR}/etc/resolv.conf"
    cp /etc/ssl/certs/ca-certificates.crt "${CHROOT_DIR}/etc/ssl/certs/ca-certificates.crt"
}

# The part run inside `unshare --mount`: mount, run, unmount (the trap), exit with the
# command's status. The namespace dies with it, so nothing stays mounted on the host.
_CHROOT_INNER='
set -euo pipefail
root=$1 checkout=$2
shift 2
cleanup() {
    for m in "$root/src" "$root/dev/shm" "$root/proc"; do
        if mountpoint -q "$m"; then umount "$m" || umount -l "$m"; fi
    done
}
trap cleanup EXIT
mount --make-rprivate /
mount -t proc proc "$root/proc"
mkdir -p "$root/dev/shm"
mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
mount --bind "$checkout" "$root/src"
status=0
chroot "$root" "$@" || status=$?
exit "$status"
'

chroot_exec() {
    local checkout=$1
    shift
    # A clean environment: nothing of the host (its pip find-links, PYTHON*) leaks in.
    unshare --mount --propagation private bash -c "$_CHROOT_INNER" chroot-inner \
        "$CHROOT_DIR" "$checkout" \
        /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
        TMPDIR=/tmp CI="${CI:-}" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
        "$@"
}
