#!/usr/bin/env bash
# Builds the single-file executable: a POSIX shell launcher followed by the shaded jar.
# (A zip archive may carry any prefix: the JVM finds its central directory from the end.)
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
jar="$1"; out="$2"
{ echo '#!/bin/sh'; cat "$dir/find-jdk.sh" "$dir/launch.sh"; cat "$jar"; } > "$out.tmp"
chmod +x "$out.tmp"
mv "$out.tmp" "$out"
