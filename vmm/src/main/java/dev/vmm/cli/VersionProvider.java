package dev.vmm.cli;

import picocli.CommandLine;

/** The version from the jar manifest (set by the build). */
public final class VersionProvider implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
        String v = VersionProvider.class.getPackage().getImplementationVersion();
        return new String[] {"vmm " + (v == null ? "(development build)" : v) + ", Java " + Runtime.version()};
    }
}
