package dev.vmm.firmware;

import dev.vmm.chipset.acpi.AcpiTables;
import dev.vmm.chipset.fwcfg.FwCfg;
import dev.vmm.memory.GuestMemory;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.*;

/** Which items a firmware boot's fw_cfg holds, and their formats (the QEMU comparison is FirmwareQemuOracleTest). */
class FirmwareConfigTest {
    static final List<long[]> RAM = List.of(new long[] {0, 512L << 20}, new long[] {1L << 32, 1L << 30});

    @Test
    void serconPortOnlyWhenTheSerialGoesSomewhereAndSplashTimeAsBootMenuWait() {
        BootOptions boot = BootOptions.parse("menu=on,splash-time=1500");
        FwCfg with = FirmwareConfig.build(new GuestMemory(List.of()), 2, RAM, true, boot, new BootOrder(), null, List.of(), UUID.randomUUID());
        FwCfg without = FirmwareConfig.build(new GuestMemory(List.of()), 2, RAM, false, boot, new BootOrder(), null, List.of(), UUID.randomUUID());
        assertArrayEquals(new byte[] {(byte) 0xf8, 0x03}, with.file("etc/sercon-port"));
        assertNull(without.file("etc/sercon-port"));
        assertEquals(1500, ByteBuffer.wrap(with.file("etc/boot-menu-wait")).order(ByteOrder.LITTLE_ENDIAN).getShort());
        assertEquals(-1, ByteBuffer.wrap(with.file("etc/boot-fail-wait")).order(ByteOrder.LITTLE_ENDIAN).getInt());
        byte[] e820 = with.file("etc/e820");
        assertEquals(40, e820.length, "two RAM ranges");
        ByteBuffer b = ByteBuffer.wrap(e820).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(1L << 32, b.getLong(20));
        assertEquals(1L << 30, b.getLong(28));
        assertEquals(1, b.getInt(36));
    }

    @Test
    void acpiThroughTheLinkerLoaderAndSmbiosWithTheUsersOverrides() {
        AcpiTables acpi = AcpiTables.builder(1).build(0xE0000);
        FwCfg fw = FirmwareConfig.build(new GuestMemory(List.of()), 1, RAM, false, BootOptions.DEFAULT, new BootOrder(), acpi,
                List.of("type=1,manufacturer=Acme Test,serial=42"), UUID.randomUUID());
        for (String f : List.of("etc/acpi/rsdp", "etc/acpi/tables", "etc/table-loader", "etc/smbios/smbios-anchor")) {
            assertNotNull(fw.file(f), f);
        }
        String tables = new String(fw.file("etc/smbios/smbios-tables"), StandardCharsets.ISO_8859_1);
        assertTrue(tables.contains("Acme Test\0"), "type 1 manufacturer string");
        assertEquals("_SM_", new String(fw.file("etc/smbios/smbios-anchor"), 0, 4, StandardCharsets.US_ASCII));
    }

    /** A BIOS image ends at 4 GiB and must leave KVM's TSS/identity-map pages below 0xFFFC0000 alone. */
    @Test
    void biosImageSizesAreCheckedBeforeKvm() {
        java.nio.file.Path p = java.nio.file.Path.of("bios.bin");
        assertEquals(0xFFFC0000L, FirmwareImage.of(p, new byte[256 << 10]).base());
        assertEquals(0xFFFE0000L, FirmwareImage.of(p, new byte[128 << 10]).base());
        assertEquals(256 << 10, FirmwareImage.MAX);
        for (int bad : new int[] {0, 4096, (64 << 10) + 512, 512 << 10}) {
            dev.vmm.config.ConfigException e = assertThrows(dev.vmm.config.ConfigException.class, () -> FirmwareImage.of(p, new byte[bad]));
            assertTrue(e.getMessage().startsWith("--bios bios.bin: "), e.getMessage());
        }
    }
}
