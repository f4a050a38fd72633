#!/usr/bin/env bash
# Block layer vs qemu-img bench (4 KiB, 1 GiB qcow2 and raw). Usage: benchmarks/run-block-bench.sh [dir] [depth] [count]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/mvnw" -q -pl benchmarks -am compile -DskipTests
. "$root/vmm/src/main/launcher/find-jdk.sh"
vmm_find_jdk
cp="$root/vmm-ffm-bindings/target/classes:$root/vmm-virtio/target/classes:$root/benchmarks/target/classes"
exec "$VMM_JDK/bin/java" --enable-native-access=ALL-UNNAMED -cp "$cp" dev.vmm.bench.block.BlockBench "$@"
