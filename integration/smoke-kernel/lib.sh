# Shared helpers for the smoke-kernel scripts (sourced, not executed).
# shellcheck shell=bash

sk_log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
sk_die() { sk_log "error: $*"; exit 1; }

# Installs the given Debian packages if any of them is missing. Works unattended (CI=true, no
# stdin): DEBIAN_FRONTEND=noninteractive, --no-install-recommends (linux-source-6.1 recommends
# linux-config-6.1, rsync, ... which the build does not need), and waits for the dpkg lock
# instead of failing when another apt-get runs at the same time. Runs `apt-get update` only if
# the first install attempt fails (a fresh machine or a stale package index).
sk_need_packages() {
    local missing=() p
    for p in "$@"; do
        if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]]; then
            missing+=("$p")
        fi
    done
    ((${#missing[@]} == 0)) && return 0
    command -v apt-get >/dev/null || sk_die "missing packages (${missing[*]}) and no apt-get to install them"
    local sudo=()
    if ((EUID != 0)); then
        # Never prompt for a password: CI has no stdin, and a hidden prompt looks like a hang.
        command -v sudo >/dev/null && sudo -n true 2>/dev/null \
            || sk_die "missing packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
        sudo=(sudo -n)
    fi
    sk_log "installing: ${missing[*]}"
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
               -o DPkg::Lock::Timeout=600 --no-install-recommends)
    if ! "${apt[@]}" install "${missing[@]}" </dev/null >&2; then
        sk_log "install failed; refreshing the package index and retrying"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 update </dev/null >&2 \
            || sk_die "apt-get update failed"
        "${apt[@]}" install "${missing[@]}" </dev/null >&2 || sk_die "apt-get install ${missing[*]} failed"
    fi
}

# Compiles init.c into a static, freestanding x86-64 program (no libc: the smallest thing the
# kernel can exec, and nothing that needs a toolchain beyond gcc). $1 = output, $2 = the name
# it prints ("rootfs", "initramfs").
sk_build_init() {
    local out=$1 flavour=$2 here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    sk_need_packages gcc
    gcc -static -nostdlib -ffreestanding -fno-pie -no-pie -fno-stack-protector \
        -fno-asynchronous-unwind-tables -Os -Wall -Wextra -Werror \
        -DSMOKE_FLAVOUR="\"$flavour\"" -Wl,--build-id=none -s \
        -o "$out" "$here/init.c" || sk_die "compiling init.c failed"
}
