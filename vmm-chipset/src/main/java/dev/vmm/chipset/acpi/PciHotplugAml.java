package dev.vmm.chipset.acpi;

import static dev.vmm.chipset.acpi.CpuHotplugAml.*;

/**
 * The DSDT objects that drive {@link Piix4PciHotplug} on {@code pc}, inside {@code \_SB.PCI0}: the
 * register block as OperationRegion {@code PCST} (fields {@code PCIU PCID B0EJ PCRM BNUM PIDX}),
 * mutex {@code BLCK}, {@code PCEJ(slot)} (select bus 0, write the slot's bit to B0EJ), {@code PCNT}
 * (Notify(Sxx, 1) for each bit of PCIU, Notify(Sxx, 3) for each bit of PCID), and one
 * {@code Sxx} per hot-pluggable slot with {@code _ADR} (slot << 16), {@code _SUN} (the slot number
 * the OS shows) and {@code _EJ0} → {@code PCEJ}; plus {@code \_GPE._E01} → {@code PCNT}
 * (GPE bit {@link Piix4PciHotplug#GPE_BIT}). Written from the ACPI 6.4 grammar and QEMU's
 * register description; slots holding machine functions or bridges get no {@code Sxx}, so the OS
 * does not offer to eject them.
 */
final class PciHotplugAml {
    private static final int AND = 0x7b, RETURN = 0xa4, NOTIFY = 0x86, LOCAL0 = 0x60, LOCAL1 = 0x61, ARG0 = 0x68,
            SHIFT_LEFT = 0x79;

    private PciHotplugAml() { }

    static String slotName(int slot) {
        return String.format("S%02X", slot);
    }

    /** The objects to put inside {@code Device(PCI0)}; {@code hotpluggable} bit n = slot n gets an Sxx. */
    static void pci0(AmlBuilder pci0, int ioBase, int hotpluggable) {
        pci0.raw(systemIoRegion("PCST", ioBase, Piix4PciHotplug.SIZE));
        // DWordAcc, NoLock, WriteAsZeros: each register is one dword.
        pci0.raw(field("PCST", 0x43, named("PCIU", 32), named("PCID", 32), named("B0EJ", 32), named("PCRM", 32),
                named("BNUM", 32), named("PIDX", 32)));
        pci0.raw(mutex("BLCK"));
        // PCEJ(slot): B0EJ = 1 << slot on bus 0.
        pci0.method("PCEJ", 1, false, m -> m.raw(cat(
                acquire("BLCK"), store(zero(), name("BNUM")),
                store(cat(bytes(SHIFT_LEFT), one(), bytes(ARG0), zero()), name("B0EJ")),
                release("BLCK"), bytes(RETURN), zero())));
        // PCNT: read both event registers once (reading PCIU clears it), then notify slot by slot.
        java.io.ByteArrayOutputStream notifies = new java.io.ByteArrayOutputStream();
        for (int slot = 0; slot < 32; slot++) {
            if ((hotpluggable & 1 << slot) == 0) continue;
            long bit = 1L << slot;
            notifies.writeBytes(ifThen(cat(bytes(AND), bytes(LOCAL0), data(bit), zero()),
                    cat(bytes(NOTIFY), name(slotName(slot)), one())));
            notifies.writeBytes(ifThen(cat(bytes(AND), bytes(LOCAL1), data(bit), zero()),
                    cat(bytes(NOTIFY), name(slotName(slot)), data(3))));
        }
        pci0.method("PCNT", 0, false, m -> m.raw(cat(
                acquire("BLCK"), store(zero(), name("BNUM")),
                store(name("PCIU"), bytes(LOCAL0)), store(name("PCID"), bytes(LOCAL1)),
                release("BLCK"), notifies.toByteArray())));
        for (int slot = 0; slot < 32; slot++) {
            if ((hotpluggable & 1 << slot) == 0) continue;
            int s = slot;
            pci0.device(slotName(slot), d -> {
                d.name("_ADR", AmlBuilder.integer((long) s << 16));
                d.name("_SUN", AmlBuilder.integer(s));
                d.method("_EJ0", 1, false, m -> m.raw(call("PCEJ", data(s))));
            });
        }
    }

    /** {@code Scope(\_GPE) { Method(_E01) { \_SB.PCI0.PCNT() } }}, at the DSDT's root. */
    static void gpe(AmlBuilder root) {
        root.scope("\\_GPE", g -> g.method("_E0" + Piix4PciHotplug.GPE_BIT, 0, false,
                m -> m.raw(AmlBuilder.nameString("\\_SB.PCI0.PCNT"))));
    }
}
