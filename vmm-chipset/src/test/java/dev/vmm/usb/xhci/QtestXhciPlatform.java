package dev.vmm.usb.xhci;

import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.testing.QemuQtest;

import java.util.ArrayList;
import java.util.List;

/**
 * QEMU 7.2's {@code qemu-xhci} as a {@link XhciDriver.Platform}: {@code qemu-system-x86_64 -M pc}
 * under qtest with the vCPUs stopped, the controller at 00:04.0 with BAR0 placed and memory
 * decoding and bus mastering on; registers through qtest {@code readl/writel}, guest memory
 * through {@code read/write}. No interrupt is needed: the driver polls its event ring, and QEMU's
 * controller runs commands and control transfers synchronously in the doorbell write.
 */
public final class QtestXhciPlatform implements XhciDriver.Platform, AutoCloseable {
    static final int SLOT = 4;
    static final long BAR = 0xFE00_0000L;
    /** Where the driver's structures go (the machine has 128 MiB). */
    static final long RAM_BASE = 0x0100_0000L, RAM_LIMIT = 0x0400_0000L;

    private final QemuQtest q;

    /** {@code devices}: further QEMU arguments, e.g. {@code -device usb-tablet,bus=xhci.0}. */
    public QtestXhciPlatform(String... devices) throws Exception {
        this(null, devices);
    }

    /**
     * With {@code haltingBios} (a file of HLT instructions) the vCPUs run it and QEMU's virtual
     * clock runs with the host's (this build has no qtest accelerator to step it): for timers
     * such as the HID idle rate. Without, the machine stays stopped ({@code -S}).
     */
    QtestXhciPlatform(java.nio.file.Path haltingBios, String... devices) throws Exception {
        QemuQtest.assumeInstalled();
        List<String> args = new ArrayList<>(List.of("-M", "pc", "-m", "128", "-device", "qemu-xhci,id=xhci,addr=0" + SLOT + ".0"));
        if (haltingBios != null) args.addAll(List.of("-bios", haltingBios.toString()));
        args.addAll(List.of(devices));
        q = haltingBios != null ? QemuQtest.startRunning(args.toArray(String[]::new)) : QemuQtest.start(args.toArray(String[]::new));
        q.cfgWrite(0, SLOT, 0, 0x10, 4, BAR);
        q.cfgWrite(0, SLOT, 0, 0x14, 4, 0);
        q.cfgWrite(0, SLOT, 0, PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER);
    }

    /** What a script saw on QEMU, by script and arguments: one QEMU run per test JVM. */
    private static final java.util.Map<String, Object> TRANSCRIPTS = new java.util.concurrent.ConcurrentHashMap<>();

    /** A script whose result on QEMU {@link #transcript} can keep. */
    interface Script<T> {
        T run(XhciDriver qemu) throws Exception;
    }

    /**
     * Runs {@code script} over QEMU started with {@code devices}, once per JVM for each {@code key}:
     * QEMU's side of a comparison does not change between runs of the model (PIT runs the same
     * test against hundreds of mutants of the model; starting QEMU each time made most of its time).
     */
    @SuppressWarnings("unchecked")
    static <T> T transcript(String key, Script<T> script, String... devices) throws Exception {
        Object known = TRANSCRIPTS.get(key + List.of(devices));
        if (known != null) return (T) known;
        T result;
        try (QtestXhciPlatform p = new QtestXhciPlatform(devices)) {
            result = script.run(p.driver());
        }
        TRANSCRIPTS.put(key + List.of(devices), result);
        return result;
    }

    /** A driver over this controller (32-byte contexts: QEMU's CSZ is 0). */
    XhciDriver driver() {
        return new XhciDriver(this, RAM_BASE, RAM_LIMIT, 32);
    }

    @Override public int reg(int offset) {
        return (int) QemuQtest.number(q.command("readl 0x" + Long.toHexString(BAR + offset)));
    }

    @Override public void reg(int offset, int value) {
        q.command("writel 0x" + Long.toHexString(BAR + offset) + " 0x" + Integer.toHexString(value));
    }

    @Override public void write(long gpa, byte[] bytes) {
        // qtest's "write" takes the bytes as one hex string; large zero fills go in pieces.
        for (int off = 0; off < bytes.length; off += 4096) {
            q.write(gpa + off, java.util.Arrays.copyOfRange(bytes, off, Math.min(bytes.length, off + 4096)));
        }
    }

    @Override public byte[] read(long gpa, int length) {
        return q.read(gpa, length);
    }

    @Override
    public void close() throws Exception {
        q.close();
    }
}
