#!/usr/bin/env bash
# CPU time of linking one FFM downcall handle, by descriptor shape, with and without a JDK AOT cache
# trained on the same shape, the way the launcher runs short commands (-Xint, Serial GC). Issue #19.
#   benchmarks/startup/link-cost/run.sh            REPS=9 benchmarks/startup/link-cost/run.sh
# Shape arguments: N CAPTURE VARIADIC = N long parameters of syscall(2), captureCallState("errno")
# (1/0), firstVariadicArg(1) (1/0). LinkCost also prints Linker set-up and first-call costs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
REPS=${REPS:-5}
. "$ROOT/vmm/src/main/launcher/find-jdk.sh"
vmm_find_jdk
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$VMM_JDK/bin/javac" -d "$OUT/classes" "$(dirname "$0")/LinkCost.java" "$(dirname "$0")/Shape.java"
"$VMM_JDK/bin/jar" cf "$OUT/lc.jar" -C "$OUT/classes" .   # the JDK makes no AOT cache from a class directory
J="$VMM_JDK/bin/java -XX:+UseSerialGC -Xint -XX:-UsePerfData --enable-native-access=ALL-UNNAMED -cp $OUT/lc.jar"
SHAPES=${SHAPES:-"7,1,1 7,1,0 7,0,0 4,1,1 4,1,0 1,0,0"}
for s in $SHAPES; do $J -XX:AOTCacheOutput="$OUT/s$s.aot" Shape ${s//,/ } >/dev/null 2>&1; done
for ((i = 0; i < REPS; i++)); do
  for s in $SHAPES; do
    $J -XX:AOTCache="$OUT/s$s.aot" Shape ${s//,/ } | sed 's/^/aot   /'
    $J Shape ${s//,/ } | sed 's/^/noaot /'
  done
done | sort | awk '{k=$1" "$2" "$3" "$4; v[k]=v[k]" "$6} END{for (k in v) print k, "link ms:" v[k]}' | sort
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
