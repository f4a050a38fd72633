package dev.vmm.chipset.q35;

import dev.vmm.chipset.pci.BarlessFunction;
import dev.vmm.chipset.pci.PciConfigSpace;
import java.util.Objects;

/**
 * The ICH9 LPC interface bridge (8086:2918, class 0x0601) at 00:1f.0 of Q35: the config registers
 * firmware and ACPI use to place the power-management I/O block and route PCI interrupts.
 *
 * <ul>
 *   <li><b>PMBASE</b> (0x40, 32-bit): bits 15:7 = I/O base of the 128-byte ACPI block, bit 0 reads 1
 *       (I/O space). The PM1 event/control blocks and the PM timer (+0x08) sit there, the GPE0
 *       block at +0x20 ({@link dev.vmm.chipset.acpi.Gpe0Block}).</li>
 *   <li><b>ACPI_CNTL</b> (0x44): bit 7 ACPI_EN (the PMBASE block decodes only while set), bits 2:0
 *       SCI IRQ select (0 = IRQ 9, 1 = 10, 2 = 11, 4-7 = IRQ 20-23; 3 reserved, taken as 9).</li>
 *   <li><b>PIRQA-D_ROUT</b> (0x60-0x63) and <b>PIRQE-H_ROUT</b> (0x68-0x6B): bit 7 = routing
 *       disabled, bits 3:0 = ISA IRQ; power-on 0x80.</li>
 *   <li><b>RCBA</b> (0xF0): root complex base address, bits 31:14 + enable bit 0 (stored only).</li>
 * </ul>
 * Write masks follow QEMU 7.2 (checked by Q35QemuOracleTest): 0x44-0xFF are plain storage.
 *
 * Changes leave through {@link Listener}; mapping the PM block on the PIO bus and pointing the
 * router's PIRQ lines at IRQs is the machine's job. Pure state machine.
 */
public final class Ich9Lpc extends BarlessFunction {
    public static final int VENDOR_ID = 0x8086, DEVICE_ID = 0x2918, CLASS_CODE = 0x060100;
    public static final int PMBASE = 0x40, ACPI_CNTL = 0x44, PIRQA_ROUT = 0x60, PIRQE_ROUT = 0x68, RCBA = 0xf0;
    public static final int ACPI_EN = 0x80;
    public static final int PM_BLOCK_SIZE = 128;
    public static final int PIRQ_DISABLED = 0x80;

    /** Callbacks run on the vCPU thread that wrote config space. */
    public interface Listener {
        /** The ACPI PM block now decodes at {@code base} (or not at all: base -1). */
        default void pmBlockChanged(int base, int sciIrq) { }

        /** PIRQ {@code pirq} (0 = A ... 7 = H) now goes to ISA IRQ {@code irq}, or -1 for disabled. */
        default void pirqRouted(int pirq, int irq) { }
    }

    private volatile Listener listener = new Listener() { };
    private int lastPmBase = -1, lastSci = 9;  // power-on: not decoded, SCI select 0 = IRQ 9
    private final int[] lastPirq = {-1, -1, -1, -1, -1, -1, -1, -1};

    public Ich9Lpc() {
        super(PciConfigSpace.endpoint(VENDOR_ID, DEVICE_ID, CLASS_CODE, 2), "ich9-lpc");
        config.setSubsystem(0x1af4, 0x1100);
        // Like QEMU's ICH9 LPC, the device-specific area 0x44-0xFF stores whatever is written (only
        // the bits described above have an effect); PMBASE keeps bit 0 at 1 and bits 31:16 at 0.
        for (int off = ACPI_CNTL; off < 0x100; off += 4) config.setWritable(off, 4, 0xFFFF_FFFF);
        config.setDword(PMBASE, 1);
        config.setWritable(PMBASE, 4, 0x0000_FF86);
        config.addWriteListener(PMBASE, 4, (o, s) -> pmChanged());
        config.addWriteListener(ACPI_CNTL, 1, (o, s) -> pmChanged());
        for (int i = 0; i < 4; i++) {
            config.setByte(PIRQA_ROUT + i, PIRQ_DISABLED);
            config.setByte(PIRQE_ROUT + i, PIRQ_DISABLED);
        }
        config.addWriteListener(PIRQA_ROUT, 4, (o, s) -> pirqChanged());
        config.addWriteListener(PIRQE_ROUT, 4, (o, s) -> pirqChanged());
    }

    public void setListener(Listener l) {
        this.listener = Objects.requireNonNull(l);
    }

    /** The PM block's I/O base while ACPI_EN is set, else -1. */
    public int pmBase() {
        if ((config.read(ACPI_CNTL, 1) & ACPI_EN) == 0) return -1;
        return config.read(PMBASE, 4) & 0xFF80;
    }

    /** The ISA/IOAPIC IRQ the SCI is routed to (ACPI_CNTL bits 2:0). */
    public int sciIrq() {
        return switch (config.read(ACPI_CNTL, 1) & 7) {
            case 1 -> 10;
            case 2 -> 11;
            case 4 -> 20;
            case 5 -> 21;
            case 6 -> 22;
            case 7 -> 23;
            default -> 9;
        };
    }

    /** The IRQ PIRQ {@code pirq} (0..7 = A..H) is routed to, or -1 when its routing is disabled. */
    public int pirqIrq(int pirq) {
        if (pirq < 0 || pirq > 7) throw new IllegalArgumentException("PIRQ A-H is 0..7");
        int v = config.read(pirq < 4 ? PIRQA_ROUT + pirq : PIRQE_ROUT + pirq - 4, 1);
        return (v & PIRQ_DISABLED) != 0 ? -1 : v & 0x0F;
    }

    private void pmChanged() {
        int base = pmBase(), sci = sciIrq();
        synchronized (this) {
            if (base == lastPmBase && sci == lastSci) return;
            lastPmBase = base;
            lastSci = sci;
        }
        listener.pmBlockChanged(base, sci);
    }

    private void pirqChanged() {
        for (int p = 0; p < 8; p++) {
            int irq = pirqIrq(p);
            boolean changed;
            synchronized (this) {
                changed = lastPirq[p] != irq;
                lastPirq[p] = irq;
            }
            if (changed) listener.pirqRouted(p, irq);
        }
    }
}
