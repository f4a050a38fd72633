package dev.vmm.firmware;

import dev.vmm.chipset.acpi.AcpiTables;
import dev.vmm.chipset.firmware.E820Map;
import dev.vmm.chipset.fwcfg.FwCfg;
import dev.vmm.chipset.fwcfg.SeaBiosConfig;
import dev.vmm.chipset.smbios.SmbiosSpec;
import dev.vmm.chipset.smbios.SmbiosTables;
import dev.vmm.memory.GuestMemory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.UUID;

/**
 * The fw_cfg device a firmware boot gets, filled with what SeaBIOS reads (QEMU 7.2's items): CPU
 * counts, RAM size, {@code etc/e820} (the RAM ranges), {@code bootorder}, {@code etc/boot-fail-wait},
 * BOOT_MENU and {@code etc/boot-menu-wait} from {@code --boot}, {@code etc/sercon-port} = COM1 when
 * the serial port goes somewhere (there is no VGA: SeaBIOS's and GRUB's screen then goes to
 * COM1 — an item QEMU has no default for), the ACPI tables through the linker/loader and SMBIOS.
 * Pure: builds the device over {@code memory}, no KVM.
 */
public final class FirmwareConfig {
    /** COM1, where {@code etc/sercon-port} points SeaBIOS's console. */
    public static final int COM1 = 0x3f8;
    public static final String BOOT_MENU_WAIT_FILE = "etc/boot-menu-wait";

    private FirmwareConfig() {}

    /**
     * @param ram       the (base, size) RAM ranges
     * @param serialOut whether COM1's output goes anywhere ({@code --serial stdio|file:})
     */
    public static FwCfg build(GuestMemory memory, int cpus, List<long[]> ram, boolean serialOut, BootOptions boot,
                              BootOrder order, AcpiTables acpi, List<String> smbios, UUID uuid) {
        E820Map.Builder e820 = E820Map.builder();
        SmbiosTables.Builder sm = SmbiosTables.builder().cpus(cpus, 1, 1).uuid(uuid);
        long total = 0;
        for (long[] r : ram) {
            e820.add(r[0], r[1], E820Map.Type.RAM);
            sm.ram(r[0], r[1]);
            total += r[1];
        }
        for (String s : smbios) sm.apply(SmbiosSpec.parse(s));
        SeaBiosConfig c = new SeaBiosConfig().cpus(cpus, cpus).ramSize(total).uuid(uuid).e820(e820.build())
                .bootMenu(boot.menu()).bootFailWait(boot.rebootTimeout())
                .file(SeaBiosConfig.BOOT_ORDER_FILE, order.strict(boot.strict()).bytes())
                .smbios(sm.build(), false);
        if (serialOut) c.serialConsole(COM1);
        if (boot.splashTime() != null) c.file(BOOT_MENU_WAIT_FILE, le16(boot.splashTime()));
        if (acpi != null) c.acpi(acpi);
        FwCfg fw = new FwCfg(memory);
        c.install(fw);
        return fw;
    }

    /**
     * What QEMU's PC keeps in CMOS for SeaBIOS: the {@code --boot order} codes (0x3D, 0x38 bits 7:4)
     * and the CPU count − 1 (0x5F). Written through the index/data ports, as firmware would see them.
     */
    public static void cmos(dev.vmm.chipset.legacy.CmosRtc cmos, BootOptions boot, int cpus) {
        int[][] bytes = {{0x3d, boot.cmos3d()}, {0x38, boot.cmos38()}, {0x5f, cpus - 1}};
        for (int[] b : bytes) {
            cmos.writeByte(0, b[0]);
            cmos.writeByte(1, b[1]);
        }
        cmos.writeByte(0, 0);
    }

    private static byte[] le16(int v) {
        return ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort((short) v).array();
    }
}
