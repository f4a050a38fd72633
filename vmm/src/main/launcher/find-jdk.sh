# Locates a Java runtime >= 22 (FFM is final there) without anyone exporting JAVA_HOME.
# Order: $VMM_JAVA_HOME, $JAVA_HOME, then the newest JDK under /usr/lib/jvm and /opt.
# Sourced by ./mvnw and prepended to the vmm launcher; sets VMM_JDK (and VMM_JDK_MAJOR,
# VMM_JDK_RUNTIME: its release file's JAVA_RUNTIME_VERSION) or fails with one line.
# Shell builtins only (no sed, no command substitution): every fork+exec costs the launcher
# milliseconds of CPU on each start (issue #19).
vmm_jdk_major() {
  # Sets vmm_major to the major version in $1/release (0 when unknown) and vmm_runtime to its
  # JAVA_RUNTIME_VERSION (empty when absent; the launcher keys its AOT cache on it); cheaper than
  # starting a JVM. JDKs write the release file sorted, JAVA_RUNTIME_VERSION before JAVA_VERSION:
  # reading stops at JAVA_VERSION once both are known.
  local line
  vmm_major=0
  vmm_runtime=""
  [ -r "$1/release" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      JAVA_RUNTIME_VERSION=\"*\")
        line=${line#JAVA_RUNTIME_VERSION=\"}
        vmm_runtime=${line%\"}
        [ "$vmm_major" = 0 ] || return 0 ;;
      JAVA_VERSION=\"[0-9]*)
        line=${line#JAVA_VERSION=\"}
        line=${line%%[!0-9]*}
        vmm_major=${line:-0}
        [ -z "$vmm_runtime" ] || return 0 ;;
    esac
  done < "$1/release"
}
vmm_find_jdk() {
  local best="" best_major=0 best_runtime="" d
  for d in "${VMM_JAVA_HOME:-}" "${JAVA_HOME:-}"; do
    if [ -n "$d" ] && [ -x "$d/bin/java" ]; then
      vmm_jdk_major "$d"
      if [ "$vmm_major" -ge 22 ]; then VMM_JDK="$d"; VMM_JDK_MAJOR=$vmm_major; VMM_JDK_RUNTIME=$vmm_runtime; return 0; fi
    fi
  done
  for d in /usr/lib/jvm/* /opt/*jdk* /opt/java/*; do
    [ -x "$d/bin/java" ] || continue
    vmm_jdk_major "$d"
    if [ "$vmm_major" -ge 22 ] && [ "$vmm_major" -gt "$best_major" ]; then
      best="$d"; best_major=$vmm_major; best_runtime=$vmm_runtime
    fi
  done
  if [ -z "$best" ]; then
    echo "vmm: no JDK >= 22 found (looked at \$JAVA_HOME, /usr/lib/jvm, /opt); install one, e.g. temurin-25-jdk" >&2
    return 1
  fi
  VMM_JDK="$best"
  VMM_JDK_MAJOR=$best_major
  VMM_JDK_RUNTIME=$best_runtime
}
