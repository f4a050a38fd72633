# Locates a Java runtime >= 22 (FFM is final there) without anyone exporting JAVA_HOME.
# Order: $VMM_JAVA_HOME, $JAVA_HOME, then the newest JDK under /usr/lib/jvm and /opt.
# Sourced by ./mvnw and prepended to the vmm launcher; sets VMM_JDK or fails with one line.
vmm_jdk_major() {
  # The 'release' file is cheaper than starting a JVM to ask.
  local v
  v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release" 2>/dev/null)
  echo "${v:-0}"
}
vmm_find_jdk() {
  local best="" best_major=0 d m
  for d in "${VMM_JAVA_HOME:-}" "${JAVA_HOME:-}"; do
    if [ -n "$d" ] && [ -x "$d/bin/java" ] && [ "$(vmm_jdk_major "$d")" -ge 22 ]; then
      VMM_JDK="$d"; return 0
    fi
  done
  for d in /usr/lib/jvm/* /opt/*jdk* /opt/java/*; do
    [ -x "$d/bin/java" ] || continue
    m=$(vmm_jdk_major "$d")
    if [ "$m" -ge 22 ] && [ "$m" -gt "$best_major" ]; then best="$d"; best_major=$m; fi
  done
  if [ -z "$best" ]; then
    echo "vmm: no JDK >= 22 found (looked at \$JAVA_HOME, /usr/lib/jvm, /opt); install one, e.g. temurin-25-jdk" >&2
    return 1
  fi
  VMM_JDK="$best"
}
