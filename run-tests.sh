#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: installs what the tests need (Debian packages,
# the cached smoke kernel), then runs every module's tests with ./mvnw verify.
set -euo pipefail
cd "$(dirname "$0")"

pkgs=(gcc make binutils qemu-system-x86 qemu-utils e2fsprogs cpio acpica-tools iproute2 dnsmasq-base dmidecode)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "run-tests: installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "run-tests: missing Debian packages (need root to install): ${missing[*]}" >&2
  fi
fi

# The smoke kernel is built once and cached under ~/.cache/vmm (keyed by its inputs).
if [ -x integration/smoke-kernel/build.sh ]; then
  integration/smoke-kernel/build.sh
fi

exec ./mvnw -B verify "$@"
