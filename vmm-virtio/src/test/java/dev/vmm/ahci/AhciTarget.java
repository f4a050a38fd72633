package dev.vmm.ahci;

import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.testing.QemuQtest;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.BooleanSupplier;

/**
 * What a guest driver reaches of an AHCI controller: its ABAR registers and guest RAM. Two
 * implementations run the same script: {@link #model} (our controller over test RAM, commands run
 * inline) and {@link #qemu} (QEMU 7.2's ich9-ahci at 00:1f.2 of {@code -M q35}, through qtest with
 * the vCPUs stopped). Both have a raw disk on port 0, nothing on port 1 and an empty CD-ROM drive on
 * port 2.
 */
interface AhciTarget extends AutoCloseable {
    /** Where BAR5 is placed in QEMU (any free MMIO address below 4 GiB). */
    long ABAR_GPA = 0xFEBF_0000L;

    int reg(int abarOffset);

    void reg(int abarOffset, int value);

    void write(long gpa, byte[] data);

    byte[] read(long gpa, int length);

    /**
     * Waits until {@code done} holds. QEMU completes DMA on its main loop, so it gets a deadline;
     * the model completes every command before the register write returns, so a condition that
     * does not hold at once is a failure (no waiting: a broken mutant fails fast under PIT).
     */
    void await(String what, BooleanSupplier done);

    @Override void close();

    default void writeU32(long gpa, int v) {
        write(gpa, new byte[] {(byte) v, (byte) (v >> 8), (byte) (v >> 16), (byte) (v >> 24)});
    }

    default int readU32(long gpa) {
        byte[] b = read(gpa, 4);
        return (b[0] & 0xFF) | (b[1] & 0xFF) << 8 | (b[2] & 0xFF) << 16 | (b[3] & 0xFF) << 24;
    }

    static AhciTarget model(byte[] diskBytes) {
        TestRam ram = new TestRam(0, 64L << 20);
        AhciController hba = new AhciController(ram.memory, AhciIo.inline(), (v, a, d) -> { }, Arrays.asList(
                new AtaDisk(new MemoryDisk(diskBytes.clone(), false), AtaDisk.Config.of("T")), null, new AtapiCdrom(null, "CD")));
        hba.configWrite(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER);
        return new AhciTarget() {
            @Override public int reg(int off) { return (int) hba.barRead(AhciController.ABAR, off, 4); }

            @Override public void reg(int off, int value) { hba.barWrite(AhciController.ABAR, off, 4, value & 0xFFFF_FFFFL); }

            @Override public void write(long gpa, byte[] data) { ram.memory.write(gpa, data); }

            @Override public byte[] read(long gpa, int length) {
                byte[] b = new byte[length];
                ram.memory.read(gpa, b, 0, length);
                return b;
            }

            @Override public void await(String what, BooleanSupplier done) {
                if (!done.getAsBoolean()) throw new AssertionError("the model did not finish: " + what);
            }

            @Override public void close() { ram.close(); }
        };
    }

    /** QEMU with {@code image} (raw) as the disk on port 0; BAR5 at {@link #ABAR_GPA}, memory and bus mastering on. */
    static AhciTarget qemu(Path image) throws IOException {
        QemuQtest q = QemuQtest.start("-machine", "q35", "-m", "64M",
                "-drive", "file=" + image + ",if=none,id=d0,format=raw", "-device", "ide-hd,drive=d0,bus=ide.0",
                "-drive", "if=none,id=cd,media=cdrom", "-device", "ide-cd,drive=cd,bus=ide.2");
        q.cfgWrite(0, 0x1F, 2, PciConfigSpace.BAR0 + 4 * AhciController.ABAR, 4, ABAR_GPA);
        q.cfgWrite(0, 0x1F, 2, PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER);
        return new AhciTarget() {
            @Override public int reg(int off) { return (int) QemuQtest.number(q.command("readl 0x" + Long.toHexString(ABAR_GPA + off))); }

            @Override public void reg(int off, int value) {
                q.command("writel 0x" + Long.toHexString(ABAR_GPA + off) + " 0x" + Integer.toHexString(value));
            }

            @Override public void write(long gpa, byte[] data) { q.write(gpa, data); }

            @Override public byte[] read(long gpa, int length) { return q.read(gpa, length); }

            @Override public void await(String what, BooleanSupplier done) {
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (!done.getAsBoolean()) { // each register read lets QEMU's main loop complete the I/O
                    if (System.nanoTime() > deadline) throw new AssertionError("QEMU did not finish: " + what);
                }
            }

            @Override public void close() {
                try {
                    q.close();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
    }
}
