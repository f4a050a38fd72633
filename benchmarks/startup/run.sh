#!/usr/bin/env bash
# Start-up: process start -> the guest's first serial output -> process exit, and peak RSS, for
#   vmm-hello      vmm run --kernel hello.pvh.elf
#   vmm-demo       vmm run (the built-in demo guest, i.e. demo.pvh.elf)
#   microvm-hello  qemu-system-x86_64 -M microvm -kernel hello.pvh.elf  (qboot firmware, PVH)
#   microvm-demo   qemu-system-x86_64 -M microvm -kernel demo.pvh.elf
#   pc-hello       qemu-system-x86_64 -M pc -kernel hello.pvh.elf       (SeaBIOS, for reference)
#   c-hello        benchmarks/src/main/c/kvm_exit_loop (the floor: KVM set-up + the guest's own boot)
#
#   benchmarks/startup/run.sh
#   REPS=15 RUNNERS="vmm-hello microvm-hello" benchmarks/startup/run.sh
#
# "First output" is the moment the guest's first line (its marker text, so that a firmware banner
# does not count) appears on the process's stdout.  Times are from just before fork(); user/sys
# CPU and peak RSS come from wait4() and include children (the vmm launcher is a shell script
# that starts the JVM).  Every runner gets one unmeasured warm-up run first: it fills the page
# cache and, for the vmm, creates the JVM class-data-sharing archive the launcher keeps under
# ~/.cache/vmm (the first run after a rebuild is slower by that).  Runs are interleaved; medians.
# Not run in CI.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/vmm-bench-startup}
REPS=${REPS:-10}
RUNNERS=${RUNNERS:-"c-hello vmm-hello vmm-demo microvm-hello microvm-demo pc-hello"}
VMM=${VMM:-$ROOT/vmm/target/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
MEM_MIB=256

mkdir -p "$OUT/logs"
RESULTS=$OUT/results.tsv

gcc -O2 -Wall -Wextra -o "$OUT/first_byte" "$ROOT/benchmarks/startup/first_byte.c"
gcc -O2 -Wall -Wextra -o "$OUT/kvm_exit_loop" "$ROOT/benchmarks/src/main/c/kvm_exit_loop.c"
make -s -C "$ROOT/integration/guest-kit" OUT="$OUT/gk" hello demo >/dev/null
if [[ ! -x $VMM ]]; then
    (cd "$ROOT" && ./mvnw -q package -DskipTests -pl vmm -am)
fi
QEMU_ARGS=(-accel kvm -m ${MEM_MIB}M -display none -nodefaults -serial stdio -no-reboot
           -device isa-debug-exit,iobase=0xf4,iosize=0x04)

run_cmd() { # runner -> "MARKER" then the command, one word per line
    case $1 in
        c-hello) printf '%s\n' "Hello" "$OUT/kvm_exit_loop" "$OUT/gk/hello.pvh.elf" "" "$MEM_MIB" ;;
        vmm-hello) printf '%s\n' "Hello" "$VMM" run -q -m ${MEM_MIB}M --kernel "$OUT/gk/hello.pvh.elf" ;;
        vmm-demo) printf '%s\n' "====" "$VMM" run -q -m ${MEM_MIB}M ;;
        microvm-hello) printf '%s\n' "Hello" "$QEMU" -M microvm "${QEMU_ARGS[@]}" -kernel "$OUT/gk/hello.pvh.elf" ;;
        microvm-demo) printf '%s\n' "====" "$QEMU" -M microvm "${QEMU_ARGS[@]}" -kernel "$OUT/gk/demo.pvh.elf" ;;
        pc-hello) printf '%s\n' "Hello" "$QEMU" -M pc "${QEMU_ARGS[@]}" -kernel "$OUT/gk/hello.pvh.elf" ;;
        *) echo "unknown runner $1" >&2; exit 2 ;;
    esac
}

# One run; appends "runner rep first_ms exit_ms user_ms sys_ms maxrss_kib status" to RESULTS.
measure() {
    local runner=$1 rep=$2 log=$OUT/logs/$1-r$2
    local -a cmd
    mapfile -t cmd < <(run_cmd "$runner")
    local line
    line=$("$OUT/first_byte" "$log.out" "${cmd[@]}" 2>"$log.err" </dev/null)
    # The guest's exit byte 0 arrives as status 0 (vmm, C loop) or 1 (QEMU isa-debug-exit: 0 << 1 | 1).
    if ! grep -q '^EXIT 0' "$log.out" || [[ $line == -1* ]]; then
        echo "FAILED: $runner (see $log.out / $log.err): $line" >&2
        return 1
    fi
    [[ $rep == warmup ]] || echo "$runner $rep $line" >>"$RESULTS"
}

: >"$RESULTS"
echo "start-up benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
     "$REPS reps after one warm-up run each, $MEM_MIB MiB guests"
for runner in $RUNNERS; do measure "$runner" warmup || true; done
# The first start of a vmm build trains the launcher's AOT cache in the background: wait for it
# (60 s at most) so that neither its CPU nor a missing cache lands in the figures.
for ((t = 0; t < 60; t++)); do
  compgen -G "${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/vmm/vmm-*.aot.lock" >/dev/null || break
  sleep 1
done
for rep in $(seq 1 "$REPS"); do
    for runner in $RUNNERS; do measure "$runner" "$rep" || true; done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"

awk -v order="$RUNNERS" '
function median(s,    a, k, i, j, t) {
    k = split(s, a, " ")
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
function minimum(s,    a, k, i, m) { k = split(s, a, " "); m = a[1]; for (i = 2; i <= k; i++) if (a[i] < m) m = a[i]; return m }
{ f[$1] = f[$1] " " $3; e[$1] = e[$1] " " $4; u[$1] = u[$1] " " $5; s[$1] = s[$1] " " $6; r[$1] = r[$1] " " $7; n[$1]++ }
END {
    printf "\n%-14s %12s %12s %9s %9s %13s %5s\n", "runner", "first out ms", "exit ms", "user ms", "sys ms", "peak RSS MiB", "reps"
    nr = split(order, runners, " ")
    for (i = 1; i <= nr; i++) {
        x = runners[i]
        if (!(x in n)) { printf "%-14s (no successful runs)\n", x; continue }
        F[x] = median(f[x]); E[x] = median(e[x]); R[x] = median(r[x]) / 1024
        printf "%-14s %12.0f %12.0f %9.0f %9.0f %13.1f %5d   (fastest: first %.0f, exit %.0f)\n", x, F[x], E[x],
               median(u[x]), median(s[x]), R[x], n[x], minimum(f[x]), minimum(e[x])
    }
    printf "\n"
    split("hello demo", g, " ")
    for (k = 1; k <= 2; k++) {
        v = "vmm-" g[k]
        for (i = 1; i <= nr; i++) {
            q = runners[i]
            if (q == v || !(q in F) || !(v in F) || index(q, "-" g[k]) == 0) continue
            printf "%s / %s: first output %.2fx, exit %.2fx, peak RSS %.2fx\n", v, q, F[v] / F[q], E[v] / E[q], R[v] / R[q]
        }
    }
}' "$RESULTS"
echo
echo "raw results: $RESULTS (runner rep first_ms exit_ms user_ms sys_ms maxrss_kib status)"
