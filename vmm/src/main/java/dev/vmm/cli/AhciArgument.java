package dev.vmm.cli;

import dev.vmm.config.AhciDriveOptions;
import dev.vmm.config.AhciSpec;
import picocli.CommandLine.ITypeConverter;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One {@code --ahci} or {@code --cdrom} value as given, stamped in the order picocli met it: both
 * options fill the same controller's ports in command-line order, which two separate lists lose.
 * Parsing waits for {@link #spec} so a bad value is a one-line {@code ConfigException} like every
 * other device option's.
 */
record AhciArgument(long order, String text, boolean cdrom) {
    private static final AtomicLong SEQUENCE = new AtomicLong();

    /** Converter for {@code --ahci}. */
    static final class Disk implements ITypeConverter<AhciArgument> {
        @Override
        public AhciArgument convert(String value) {
            return new AhciArgument(SEQUENCE.incrementAndGet(), value, false);
        }
    }

    /** Converter for {@code --cdrom}. */
    static final class Cdrom implements ITypeConverter<AhciArgument> {
        @Override
        public AhciArgument convert(String value) {
            return new AhciArgument(SEQUENCE.incrementAndGet(), value, true);
        }
    }

    /** The controller with the drives of both options, port = the order they were given in. */
    static AhciSpec spec(List<AhciArgument> disks, List<AhciArgument> cdroms) {
        List<AhciArgument> all = new ArrayList<>(disks);
        all.addAll(cdroms);
        all.sort(Comparator.comparingLong(AhciArgument::order));
        List<AhciDriveOptions> drives = new ArrayList<>();
        for (AhciArgument a : all) drives.add(a.cdrom() ? AhciDriveOptions.cdrom(a.text()) : AhciDriveOptions.disk(a.text()));
        return new AhciSpec(drives);
    }
}
