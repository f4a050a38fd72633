package dev.vmm.chipset.fwcfg;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.chipset.acpi.AcpiTables;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.pci.PciInterruptRouter.Route;
import dev.vmm.chipset.testing.ExternalTool;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13, test 5: a firmware-like client finds fw_cfg, reads the directory, DMA-loads the ACPI
 * files and runs the linker/loader script into guest RAM; the tables it ends up with are those
 * direct boot writes (byte for byte, for the addresses the client chose), every checksum holds, and
 * ACPICA's {@code iasl -d} and {@code acpiexec} accept them.
 */
class FwCfgAcpiLoaderTest {
    static final long RAM = 4 << 20;
    static final long HIGH_ZONE = 0x30_0000; // where this "firmware" puts high allocations

    private final Arena arena = Arena.ofConfined();
    private final GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(RAM, 4096))));
    private final Bus pio = new Bus("pio");
    private final FwCfg fw = new FwCfg(memory);
    private final FwCfgClient client = new FwCfgClient(pio, memory, 0x7000);

    @AfterEach
    void close() {
        arena.close();
    }

    static AcpiTables.Builder tables() {
        List<Route> routes = new ArrayList<>();
        for (int slot = 0; slot < 32; slot++)
            for (int pin = 1; pin <= 4; pin++) routes.add(new Route(0, slot, pin, 16 + (slot + pin - 1) % 8));
        return AcpiTables.builder(3).pciRoutes(routes).pciIoWindow(0x1000, 0xf000)
                .pciMmio32Window(0xc000_0000L, 0x3ec0_0000L).pciMmio64Window(0x100_0000_0000L, 0x40_0000_0000L)
                .ecam(0xb000_0000L, 0, 255).pvpanic(0x505);
    }

    @Test
    @Timeout(120)
    void linkerLoaderYieldsTheDirectBootTablesWithValidChecksumsAndIaslAcceptsThem(@TempDir Path dir) throws Exception {
        fw.registerPorts(pio);
        new SeaBiosConfig().cpus(3, 3).acpi(tables().build(0xe0000)).install(fw);

        // What SeaBIOS does first: signature, DMA feature, directory.
        assertThat(client.signatureOk()).isTrue();
        assertThat(client.features() & FwCfgKeys.ID_DMA).isNotZero();
        assertThat(client.directory().keySet()).containsExactly("etc/acpi/rsdp", "etc/acpi/tables", "etc/boot-fail-wait", "etc/table-loader");
        assertThat(client.directory().get("etc/table-loader").size() % 128).isZero();

        FwCfgClient.Loaded loaded = client.runLoader(0xf0000, 0x100000, HIGH_ZONE, RAM);
        long rsdpAt = loaded.addresses().get("etc/acpi/rsdp");
        long tablesAt = loaded.addresses().get("etc/acpi/tables");
        assertThat(rsdpAt % 16).isZero();
        assertThat(tablesAt % 64).isZero();

        // An OS scans the BIOS area for the RSDP on 16-byte boundaries.
        long found = -1;
        for (long a = 0xe0000; a < 0x100000 && found < 0; a += 16)
            if (new String(bytes(a, 8), StandardCharsets.US_ASCII).equals("RSD PTR ") && sum(bytes(a, 20)) == 0) found = a;
        assertThat(found).isEqualTo(rsdpAt);
        assertThat(sum(bytes(rsdpAt, 36))).as("RSDP extended checksum").isZero();

        // Byte-identical to the image direct boot would write if its tables sat where the loader put them.
        byte[] direct = tables().build(tablesAt - 64).bytes();
        assertThat(bytes(rsdpAt, 36)).isEqualTo(Arrays.copyOf(direct, 36));
        assertThat(bytes(tablesAt, direct.length - 64)).isEqualTo(Arrays.copyOfRange(direct, 64, direct.length));

        // Walk RSDP -> XSDT/RSDT -> FADT -> DSDT/FACS and the rest, checking each checksum.
        ByteBuffer rsdp = ByteBuffer.wrap(bytes(rsdpAt, 36)).order(ByteOrder.LITTLE_ENDIAN);
        Map<String, byte[]> found2 = new LinkedHashMap<>();
        byte[] xsdt = table(rsdp.getLong(24), "XSDT");
        byte[] rsdt = table(rsdp.getInt(16) & 0xffff_ffffL, "RSDT");
        ByteBuffer x = ByteBuffer.wrap(xsdt).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer r = ByteBuffer.wrap(rsdt).order(ByteOrder.LITTLE_ENDIAN);
        assertThat((xsdt.length - 36) / 8).isEqualTo((rsdt.length - 36) / 4).isEqualTo(3);
        for (int i = 0; i < (xsdt.length - 36) / 8; i++) {
            long p = x.getLong(36 + 8 * i);
            assertThat(r.getInt(36 + 4 * i) & 0xffff_ffffL).isEqualTo(p);
            String sig = new String(bytes(p, 4), StandardCharsets.US_ASCII);
            found2.put(sig, table(p, sig));
        }
        assertThat(found2.keySet()).containsExactly("FACP", "APIC", "MCFG");
        ByteBuffer fadt = ByteBuffer.wrap(found2.get("FACP")).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(fadt.getLong(140)).isEqualTo(fadt.getInt(40) & 0xffff_ffffL);
        assertThat(fadt.getLong(132)).isEqualTo(fadt.getInt(36) & 0xffff_ffffL);
        found2.put("DSDT", table(fadt.getLong(140), "DSDT"));
        assertThat(new String(bytes(fadt.getLong(132), 4), StandardCharsets.US_ASCII)).isEqualTo("FACS");
        assertThat(fadt.getLong(132) % 64).isZero();
        found2.put("XSDT", xsdt);
        found2.put("RSDT", rsdt);

        Path iasl = ExternalTool.require("iasl", "acpica-tools");
        for (Map.Entry<String, byte[]> t : found2.entrySet()) {
            String name = t.getKey().toLowerCase();
            Files.write(dir.resolve(name + ".dat"), t.getValue());
            ExternalTool.Result res = ExternalTool.run(dir, iasl, "-d", name + ".dat");
            assertThat(res.exitCode()).as(res.output()).isZero();
            String dsl = Files.readString(dir.resolve(name + ".dsl"));
            assertThat(dsl).as(t.getKey()).doesNotContainIgnoringCase("error").doesNotContainIgnoringCase("warning")
                    .doesNotContain("Invalid checksum").doesNotContain("Incorrect checksum");
        }
        Path acpiexec = ExternalTool.require("acpiexec", "acpica-tools");
        ExternalTool.Result res = ExternalTool.run(dir, acpiexec, "-b", "evaluate \\_SB.PCI0._PRT",
                "facp.dat", "dsdt.dat", "apic.dat", "mcfg.dat");
        String out = res.output().lines().filter(l -> !l.contains("aetests")).reduce("", (a, b) -> a + b + "\n");
        assertThat(out).contains("successfully acquired and loaded").contains("[Package] Contains 128 Elements:")
                .doesNotContain("ACPI Error").doesNotContain("ACPI Warning").doesNotContain("Firmware Bug");
    }

    @Test
    void scriptCommandsAreAllocationsThenPointersThenChecksumsRsdpLast() {
        AcpiFwCfgFiles files = AcpiFwCfgFiles.from(tables().build(0xe0000));
        ByteBuffer s = ByteBuffer.wrap(files.loader()).order(ByteOrder.LITTLE_ENDIAN);
        List<Integer> commands = new ArrayList<>();
        for (int c = 0; c < files.loader().length; c += 128) commands.add(s.getInt(c));
        assertThat(commands.subList(0, 2)).containsOnly(TableLoader.ALLOCATE);
        assertThat(s.get(64)).as("RSDP zone").isEqualTo((byte) TableLoader.ZONE_FSEG);
        assertThat(s.getInt(128 + 60)).as("tables alignment").isEqualTo(64);
        int firstChecksum = commands.indexOf(TableLoader.ADD_CHECKSUM);
        assertThat(commands.subList(2, firstChecksum)).containsOnly(TableLoader.ADD_POINTER);
        assertThat(commands.subList(firstChecksum, commands.size())).containsOnly(TableLoader.ADD_CHECKSUM);
        // The RSDP's extended checksum (offset 32 over 36 bytes) comes after its 20-byte one.
        int last = files.loader().length - 128;
        assertThat(s.getInt(last + 60)).isEqualTo(32);
        assertThat(s.getInt(last + 68)).isEqualTo(36);
        assertThat(s.getInt(last - 128 + 60)).isEqualTo(8);
        // Unlinked files: checksum bytes zero, pointers hold offsets into etc/acpi/tables.
        assertThat(files.rsdp()[8]).isZero();
        assertThat(files.rsdp()[32]).isZero();
        long xsdtOffset = ByteBuffer.wrap(files.rsdp()).order(ByteOrder.LITTLE_ENDIAN).getLong(24);
        assertThat(new String(files.tables(), (int) xsdtOffset, 4, StandardCharsets.US_ASCII)).isEqualTo("XSDT");
        assertThat(new String(files.tables(), 0, 4, StandardCharsets.US_ASCII)).isEqualTo("FACS");
    }

    private byte[] table(long at, String signature) {
        assertThat(new String(bytes(at, 4), StandardCharsets.US_ASCII)).isEqualTo(signature);
        int len = ByteBuffer.wrap(bytes(at + 4, 4)).order(ByteOrder.LITTLE_ENDIAN).getInt();
        byte[] t = bytes(at, len);
        assertThat(sum(t)).as(signature + " checksum").isZero();
        return t;
    }

    private byte[] bytes(long gpa, int len) {
        byte[] out = new byte[len];
        memory.read(gpa, out, 0, len);
        return out;
    }

    private static int sum(byte[] b) {
        int s = 0;
        for (byte x : b) s += x;
        return s & 0xff;
    }
}
