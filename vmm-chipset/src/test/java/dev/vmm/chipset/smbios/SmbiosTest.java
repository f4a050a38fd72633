package dev.vmm.chipset.smbios;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.chipset.testing.ExternalTool;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** SMBIOS tables decoded by dmidecode (Debian package dmidecode) from a dump in its --dump-bin format. */
class SmbiosTest {
    static final UUID UUID_1 = UUID.fromString("9f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");

    static SmbiosTables machine() {
        return SmbiosTables.builder().cpus(2, 2, 1).ram(0, 0x8000_0000L).ram(0x1_0000_0000L, 0x4_8000_0000L)
                .product("Standard PC (Q35 + ICH9, 2009)")
                .apply(SmbiosSpec.parse("type=1,manufacturer=Acme,,Inc,product=RoadRunner,serial=SN-42,uuid=" + UUID_1
                        + ",sku=SKU7,family=Birds"))
                .apply(SmbiosSpec.parse("type=0,vendor=Test BIOS,version=9.9,date=12/31/2025,release=9.9"))
                .apply(SmbiosSpec.parse("type=3,manufacturer=Chassis Co,serial=CH-1,asset=A-1"))
                .apply(SmbiosSpec.parse("type=4,manufacturer=CpuCorp,version=VirtCPU,max-speed=3000,current-speed=2500"))
                .apply(SmbiosSpec.parse("type=17,manufacturer=RamCorp,speed=3200,part=P-17"))
                .build();
    }

    /** dmidecode's dump format: the entry point at 0 (table address = 0x20), the table at 0x20. */
    static byte[] dump(byte[] entryPoint, byte[] table) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.writeBytes(entryPoint);
        o.writeBytes(new byte[0x20 - entryPoint.length]);
        o.writeBytes(table);
        return o.toByteArray();
    }

    private static String dmidecode(Path dir, byte[] dump, String... extra) throws Exception {
        Path bin = ExternalTool.require("dmidecode", "dmidecode");
        Files.write(dir.resolve("smbios.bin"), dump);
        String[] args = new String[extra.length + 2];
        args[0] = "--from-dump";
        args[1] = "smbios.bin";
        System.arraycopy(extra, 0, args, 2, extra.length);
        ExternalTool.Result r = ExternalTool.run(dir, bin, args);
        assertThat(r.exitCode()).as(r.output()).isZero();
        return r.output();
    }

    static void assertNoComplaints(String out) {
        assertThat(out).doesNotContainIgnoringCase("invalid").doesNotContainIgnoringCase("wrong")
                .doesNotContain("TRUNCATED").doesNotContain("OUT OF SPEC").doesNotContainIgnoringCase("checksum")
                .doesNotContain("<BAD INDEX>").doesNotContain("Unknown Type").doesNotContainIgnoringCase("corrupt");
    }

    @Test
    @Timeout(60)
    void dmidecodeDecodesThe28TablesAndSeesTheOverrides(@TempDir Path dir) throws Exception {
        SmbiosTables t = machine();
        String out = dmidecode(dir, dump(t.entryPoint21(0x20), t.structures()));
        assertNoComplaints(out);
        assertThat(out).contains("SMBIOS 2.8 present.")
                .contains(t.structureCount() + " structures occupying " + t.structures().length + " bytes.")
                .contains("Handle 0x0100, DMI type 1, 27 bytes")
                .contains("Manufacturer: Acme,Inc").contains("Product Name: RoadRunner").contains("Serial Number: SN-42")
                .contains("UUID: " + UUID_1).contains("SKU Number: SKU7").contains("Family: Birds")
                .contains("Vendor: Test BIOS").contains("Version: 9.9").contains("Release Date: 12/31/2025")
                .contains("BIOS Revision: 9.9").contains("System is a virtual machine")
                .contains("Manufacturer: Chassis Co").contains("Serial Number: CH-1").contains("Asset Tag: A-1")
                .contains("Socket Designation: CPU 0").contains("Socket Designation: CPU 1")
                .contains("Manufacturer: CpuCorp").contains("Max Speed: 3000 MHz").contains("Current Speed: 2500 MHz")
                .contains("Core Count: 2").contains("Status: Populated, Enabled")
                .contains("Maximum Capacity: 20 GB").contains("Number Of Devices: 2")
                .contains("Size: 16 GB").contains("Size: 4 GB").contains("Locator: DIMM 0").contains("Locator: DIMM 1")
                .contains("Manufacturer: RamCorp").contains("Part Number: P-17").contains("Speed: 3200 MT/s")
                .contains("Starting Address: 0x00000000000").contains("Ending Address: 0x0007FFFFFFF")
                .contains("Starting Address: 0x00100000000").contains("Ending Address: 0x0057FFFFFFF")
                .contains("Status: No errors detected")
                .contains("End Of Table");
        // The single-field query reads what the OS's /sys/class/dmi/id/product_uuid shows.
        assertThat(dmidecode(dir, dump(t.entryPoint21(0x20), t.structures()), "-s", "system-uuid").trim())
                .isEqualToIgnoringCase(UUID_1.toString());
    }

    @Test
    @Timeout(60)
    void theDefaultBiosDateIsBefore2015(@TempDir Path dir) throws Exception {
        // Linux's rtc-cmos (use_acpi_alarm_quirks) reads a BIOS year >= 2015 on Intel with an HPET as an
        // "ACPI alarm" platform and then wants running alarms as the ACPI RTC fixed event, which this VMM
        // (like QEMU) raises only on a wake: a later default date would make --firmware guests lose alarms.
        SmbiosTables t = SmbiosTables.builder().cpus(1, 1, 1).ram(0, 0x1000_0000L).build();
        String date = dmidecode(dir, dump(t.entryPoint21(0x20), t.structures()), "-s", "bios-release-date").trim();
        assertThat(date).matches("\\d\\d/\\d\\d/\\d{4}");
        assertThat(Integer.parseInt(date.substring(6))).isLessThan(2015);
    }

    @Test
    @Timeout(60)
    void dmidecodeDecodesThe30EntryPoint(@TempDir Path dir) throws Exception {
        SmbiosTables t = machine();
        String out = dmidecode(dir, dump(t.entryPoint30(0x20), t.structures()));
        assertNoComplaints(out);
        assertThat(out.split("\nHandle 0x", -1)).hasSize(t.structureCount() + 1); // every structure decoded
        assertThat(out).contains("SMBIOS 3.0.0 present.")
                .contains("Product Name: RoadRunner").contains("End Of Table");
        assertThat(dmidecode(dir, dump(t.entryPoint30(0x20), t.structures()), "-s", "system-serial-number").trim())
                .isEqualTo("SN-42");
    }

    @Test
    void entryPointsChecksumAndDescribeTheTable() {
        SmbiosTables t = SmbiosTables.builder().ram(0, 512 << 20).build();
        byte[] ep = t.entryPoint21(0xf1000);
        ByteBuffer b = ByteBuffer.wrap(ep).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(ep).hasSize(31);
        assertThat(sum(ep, 0, 31)).isZero();
        assertThat(sum(ep, 0x10, 15)).isZero();
        assertThat(b.getShort(0x16) & 0xffff).isEqualTo(t.structures().length);
        assertThat(b.getInt(0x18)).isEqualTo(0xf1000);
        assertThat(b.getShort(0x1c)).isEqualTo((short) t.structureCount());
        assertThat(b.getShort(8) & 0xffff).isEqualTo(t.maxStructureSize());
        byte[] ep3 = t.entryPoint30(0x1_2345_6000L);
        assertThat(ep3).hasSize(24);
        assertThat(sum(ep3, 0, 24)).isZero();
        assertThat(ByteBuffer.wrap(ep3).order(ByteOrder.LITTLE_ENDIAN).getLong(0x10)).isEqualTo(0x1_2345_6000L);
        // Types in order, End-of-Table last; every structure ends with a double NUL.
        byte[] s = t.structures();
        StringBuilder types = new StringBuilder();
        int at = 0;
        while (at < s.length) {
            types.append(s[at] & 0xff).append(' ');
            int end = at + (s[at + 1] & 0xff);
            while (!(s[end] == 0 && s[end + 1] == 0)) end++;
            at = end + 2;
        }
        assertThat(at).isEqualTo(s.length);
        assertThat(types.toString().trim()).isEqualTo("0 1 3 4 16 17 19 32 127");
        assertThatThrownBy(() -> t.entryPoint21(0x1_0000_0000L)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void specParserFollowsQemusSyntaxAndRejectsWithOneLine() {
        SmbiosSpec s = SmbiosSpec.parse("type=1,manufacturer=A,,B,,,product=P,uuid=" + UUID_1);
        assertThat(s.type()).isEqualTo(1);
        assertThat(s.get("manufacturer")).isEqualTo("A,B,");
        assertThat(s.get("product")).isEqualTo("P");
        assertThat(s.uuid()).isEqualTo(UUID_1);
        for (String bad : new String[] {"", "manufacturer=x", "type=x", "type=2,product=x", "type=1,color=red",
                "type=1,product=", "type=1,product=a,product=b", "type=1,uuid=123", "type=0,release=1",
                "type=4,max-speed=fast", "type=1,product", "type=1,serial=\u00e9"}) {
            assertThatThrownBy(() -> SmbiosSpec.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("--smbios").satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
        }
    }

    private static int sum(byte[] b, int off, int len) {
        int s = 0;
        for (int i = 0; i < len; i++) s += b[off + i];
        return s & 0xff;
    }
}
