#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: installs what the tests need (Debian packages,
# the cached smoke kernel), then runs every module's tests with ./mvnw verify.
set -euo pipefail
cd "$(dirname "$0")"

pkgs=(gcc make binutils qemu-system-x86 qemu-utils e2fsprogs cpio acpica-tools iproute2 dnsmasq-base xorriso nbdkit dmidecode gdb openssl gnutls-bin libguestfs-tools linux-image-amd64 seabios grub-pc-bin grub-common mtools strace busybox-static crash)
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

kvm_usable() { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

# The smoke kernel is built once and cached under ~/.cache/vmm (keyed by its inputs). Only guests
# boot it: on a host without a usable /dev/kvm every test that would is skipped, so it is not built.
if [ -x integration/smoke-kernel/build.sh ]; then
  if kvm_usable; then
    integration/smoke-kernel/build.sh
  else
    echo "run-tests: no usable /dev/kvm: guest tests will be skipped, the smoke kernel is not built"
  fi
fi

# The strict switch (docs/testing.md): where guests can run, a guest test that skips (a missing
# package, privilege or tool) is a failure, not a skip. An explicit VMM_IT_REQUIRE wins.
if kvm_usable; then
  export VMM_IT_REQUIRE="${VMM_IT_REQUIRE-all}"
fi

rm -f integration/target/guest-tests-skipped.tsv
status=0
./mvnw -B verify "$@" || status=$?

# One closing line about the guest tests: which classes did not run, and why.
summary=integration/target/guest-tests-skipped.tsv
if [ -f "$summary" ]; then
  if [ ! -s "$summary" ]; then
    echo "guest tests: all ran"
  else
    # Lines are "Class<TAB>reason" for a whole class, "Class#method<TAB>reason" for one test.
    nokvm=$(grep '/dev/kvm' "$summary" | cut -f1 | grep -vc '#' || true)
    nokvm_tests=$(grep '/dev/kvm' "$summary" | cut -f1 | grep -c '#' || true)
    # "host kind: ..." lines: the hypervisor kind cannot run the test at all (HostKindSkip, e.g. a
    # PVM host for guests whose user space makes system calls); they never fail the strict run.
    hostkind=$(grep -c $'\thost kind: ' "$summary" || true)
    other=$(grep -v '/dev/kvm' "$summary" | grep -vc $'\thost kind: ' || true)
    if ((nokvm > 0 || nokvm_tests > 0)); then
      echo "guest tests: $nokvm classes skipped (no usable /dev/kvm)$( ((nokvm_tests > 0)) && echo ", and $nokvm_tests single tests")"
    fi
    if ((hostkind > 0)); then
      echo "guest tests: $hostkind classes or tests cannot run on this kind of host:"
      grep $'\thost kind: ' "$summary" | sed 's/^/  /; s/\t/: /'
    fi
    if ((other > 0)); then
      echo "guest tests: $other classes or tests skipped for other reasons:"
      grep -v '/dev/kvm' "$summary" | grep -v $'\thost kind: ' | sed 's/^/  /; s/\t/: /'
    fi
    if [ "${VMM_IT_REQUIRE-}" = all ] && grep -qv $'\thost kind: ' "$summary"; then
      echo "guest tests: FAILED: VMM_IT_REQUIRE=all (a usable /dev/kvm) and these did not run:" >&2
      grep -v $'\thost kind: ' "$summary" | sed 's/^/  /; s/\t/: /' >&2
      status=1
    fi
  fi
elif [ "${VMM_IT_REQUIRE-}" = all ]; then
  echo "guest tests: no $summary (the integration module did not run)"
fi
exit "$status"
