#!/usr/bin/env bash
# Builds the single-file executable: a POSIX shell launcher followed by the shaded jar.
# (A zip archive may carry any prefix: the JVM finds its central directory from the end.)
# Before that, class files too old for the AOT cache (picocli's Java 5 ones) are rewritten as Java 8
# ones with the JDK's ClassFile API (UpgradeOldClassFiles.java; JDK 24+, skipped with a line before).
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
jar="$1"; out="$2"; java="${3:-}"
if [ -n "$java" ] && "$java" -version 2>&1 | grep -q 'version "\(2[4-9]\|[3-9][0-9]\)'; then
  "$java" "$dir/UpgradeOldClassFiles.java" "$jar"
else
  echo "[vmm] JDK older than 24: picocli's class files stay as they are (the AOT cache needs JDK 25 anyway)"
fi
# The build's id keys the launcher's CDS/AOT caches without a `stat` at every start (#19): a hash
# of what the JVM runs (the launcher's options and the jar), so that another build never takes
# this one's cache.
build=$(cat "$dir/find-jdk.sh" "$dir/launch.sh" "$jar" | sha256sum | cut -c1-16)
{ echo '#!/bin/sh'; echo "vmm_build=$build"; cat "$dir/find-jdk.sh" "$dir/launch.sh"; cat "$jar"; } > "$out.tmp"
chmod +x "$out.tmp"
mv "$out.tmp" "$out"
