package dev.vmm.chipset.fwcfg;

/**
 * Selector keys of QEMU's fw_cfg device (the numbering of QEMU's {@code fw_cfg.h}, which SeaBIOS,
 * OVMF and Linux's qemu_fw_cfg driver all hard-code). Keys 0x0000-0x3fff are generic, 0x8000-0xbfff
 * architecture specific; bit 14 is the legacy "write channel" bit and does not change the item.
 */
public final class FwCfgKeys {
    private FwCfgKeys() { }

    public static final int SIGNATURE = 0x00;
    public static final int ID = 0x01;
    public static final int UUID = 0x02;
    public static final int RAM_SIZE = 0x03;
    public static final int NOGRAPHIC = 0x04;
    public static final int NB_CPUS = 0x05;
    public static final int MACHINE_ID = 0x06;
    public static final int KERNEL_ADDR = 0x07;
    public static final int KERNEL_SIZE = 0x08;
    public static final int KERNEL_CMDLINE = 0x09;
    public static final int INITRD_ADDR = 0x0a;
    public static final int INITRD_SIZE = 0x0b;
    public static final int BOOT_DEVICE = 0x0c;
    public static final int NUMA = 0x0d;
    public static final int BOOT_MENU = 0x0e;
    public static final int MAX_CPUS = 0x0f;
    public static final int KERNEL_ENTRY = 0x10;
    public static final int KERNEL_DATA = 0x11;
    public static final int INITRD_DATA = 0x12;
    public static final int CMDLINE_ADDR = 0x13;
    public static final int CMDLINE_SIZE = 0x14;
    public static final int CMDLINE_DATA = 0x15;
    public static final int SETUP_ADDR = 0x16;
    public static final int SETUP_SIZE = 0x17;
    public static final int SETUP_DATA = 0x18;
    public static final int FILE_DIR = 0x19;
    /** The first key given to a named file; files get consecutive keys in name order. */
    public static final int FILE_FIRST = 0x20;

    public static final int WRITE_CHANNEL = 0x4000;
    public static final int ARCH_LOCAL = 0x8000;
    /** The key bits that name an item (the write-channel bit is not one of them). */
    public static final int ENTRY_MASK = ~WRITE_CHANNEL & 0xffff;

    // x86 architecture-specific items (ARCH_LOCAL + n).
    public static final int ACPI_TABLES = ARCH_LOCAL;
    public static final int SMBIOS_ENTRIES = ARCH_LOCAL + 1;
    public static final int IRQ0_OVERRIDE = ARCH_LOCAL + 2;
    public static final int E820_TABLE = ARCH_LOCAL + 3;
    public static final int HPET = ARCH_LOCAL + 4;

    /** FW_CFG_ID bits: bit 0 traditional (port) interface, bit 1 DMA interface. */
    public static final int ID_TRADITIONAL = 1, ID_DMA = 2;

    /** DMA control bits. */
    public static final int DMA_ERROR = 1, DMA_READ = 2, DMA_SKIP = 4, DMA_SELECT = 8, DMA_WRITE = 0x10;

    /** What reading the DMA address register returns: "QEMU CFG" as a big-endian 64-bit value. */
    public static final long DMA_SIGNATURE = 0x51454d5520434647L;

    /** A directory entry's name field: 56 bytes including the terminating NUL. */
    public static final int MAX_FILE_PATH = 56;
}
