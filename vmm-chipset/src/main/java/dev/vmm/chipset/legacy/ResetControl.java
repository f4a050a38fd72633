package dev.vmm.chipset.legacy;

import dev.vmm.chipset.bus.BusDevice;
import java.util.Objects;

/**
 * The chipset reset control register at port 0xcf9 (Intel PIIX/ICH "RCR"): bit 1 SYS_RST selects a
 * hard reset, bit 2 RST_CPU starts the reset when it goes from 0 to 1, bit 3 FULL_RST asks for a
 * power cycle. Linux's {@code reboot=pci} writes 0x02 then 0x06 (or 0x0e); that reaches
 * {@code resetRequest} once. The register reads back bits 1 and 3.
 *
 * <p>Port 0xcf9 lies inside the PCI configuration mechanism's 0xcf8-0xcff window, but only byte
 * accesses at 0xcf9 address this register (0xcf8 is a dword register). When a PCI host bridge owns
 * 0xcf8-0xcff it should forward one-byte accesses at offset 1 here; without one, register this at
 * 0xcf9 with length 1.
 */
public final class ResetControl implements BusDevice {
    public static final int PORT = 0xcf9;
    public static final int SIZE = 1;
    public static final int SYS_RST = 0x02, RST_CPU = 0x04, FULL_RST = 0x08;

    private final Runnable resetRequest;
    private int value;

    /** @param resetRequest called on the vCPU thread when the guest triggers a reset */
    public ResetControl(Runnable resetRequest) {
        this.resetRequest = Objects.requireNonNull(resetRequest, "resetRequest");
    }

    @Override
    public synchronized long read(long offset, int size) {
        return offset == 0 ? value & (SYS_RST | FULL_RST) : 0;
    }

    @Override
    public void write(long offset, int size, long v) {
        if (offset != 0) return;
        boolean trigger;
        synchronized (this) {
            int next = (int) v & (SYS_RST | RST_CPU | FULL_RST);
            trigger = (next & RST_CPU) != 0 && (value & RST_CPU) == 0;
            // RST_CPU is self-clearing once the reset has started.
            value = trigger ? next & ~RST_CPU : next;
        }
        if (trigger) resetRequest.run();
    }

    /** Back to the power-on value (0). */
    public synchronized void reset() {
        value = 0;
    }
}
