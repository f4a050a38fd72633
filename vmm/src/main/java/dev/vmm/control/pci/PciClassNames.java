package dev.vmm.control.pci;

/**
 * The {@code class_info.desc} texts of {@code query-pci} for the classes this VMM's functions use
 * (base class and sub-class); other classes get no {@code desc}, as QEMU leaves it out for classes it
 * does not name.
 */
final class PciClassNames {
    private PciClassNames() {}

    static String of(int classWord) {
        return switch (classWord) {
            case 0x0100 -> "SCSI controller";
            case 0x0101 -> "IDE controller";
            case 0x0106 -> "SATA controller";
            case 0x0200 -> "Ethernet controller";
            case 0x0300 -> "VGA controller";
            case 0x0600 -> "Host bridge";
            case 0x0601 -> "ISA bridge";
            case 0x0604 -> "PCI bridge";
            case 0x0c03 -> "USB controller";
            case 0x0c05 -> "SMBus";
            default -> null;
        };
    }
}
