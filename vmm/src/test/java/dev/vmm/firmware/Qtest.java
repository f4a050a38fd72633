package dev.vmm.firmware;

import dev.vmm.chipset.testing.QemuQtest;

import java.io.IOException;

/**
 * QEMU 7.2 under qtest (vCPUs stopped) as the PC whose fw_cfg and CMOS a test reads as firmware
 * would: {@link FwCfgPorts} over vmm-chipset's {@link QemuQtest}. Skipped when QEMU is absent.
 */
final class Qtest implements AutoCloseable, FwCfgPorts {
    private final QemuQtest qemu;

    Qtest(String... args) throws IOException {
        qemu = QemuQtest.start(args);
    }

    @Override
    public void out(int port, int size, long value) {
        qemu.out(port, size, value);
    }

    @Override
    public long in(int port, int size) {
        return qemu.in(port, size);
    }

    @Override
    public void close() throws InterruptedException {
        qemu.close();
    }
}
