package dev.vmm.chipset.fwcfg;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * QEMU 7.2's own ACPI linker/loader output as the reference for ours: its ALLOCATE commands for
 * the RSDP and tables files are byte-identical to the ones we emit, its RSDP pointer/checksum
 * commands that have a counterpart in ours are byte-identical too, and our firmware-like client
 * (the one test 5 uses) runs QEMU's real script over QEMU's real files into tables whose every
 * checksum holds.
 */
class TableLoaderQemuOracleTest {
    @Test
    @Timeout(60)
    void ourScriptEncodingAndOurLoaderAgreeWithQemus() throws Exception {
        QemuQtest.assumeInstalled();
        Map<String, byte[]> files = new HashMap<>();
        try (QemuQtest q = QemuQtest.start("-M", "q35", "-m", "512", "-smp", "2")) {
            q.out(0x510, 2, FwCfgKeys.FILE_DIR);
            int count = 0;
            for (int i = 0; i < 4; i++) count = count << 8 | (int) q.in(0x511, 1);
            Map<String, int[]> dir = new HashMap<>();
            for (int f = 0; f < count; f++) {
                byte[] e = new byte[64];
                for (int i = 0; i < 64; i++) e[i] = (byte) q.in(0x511, 1);
                int len = 0;
                while (e[8 + len] != 0) len++;
                ByteBuffer b = ByteBuffer.wrap(e);
                dir.put(new String(e, 8, len, StandardCharsets.US_ASCII), new int[] {b.getInt(0), b.getShort(4) & 0xffff});
            }
            for (String name : List.of(AcpiFwCfgFiles.LOADER_FILE, AcpiFwCfgFiles.RSDP_FILE, AcpiFwCfgFiles.TABLES_FILE)) {
                int[] f = dir.get(name);
                assertThat(f).as(name).isNotNull();
                q.write(0x1000, ByteBuffer.allocate(16).putInt(f[1] << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_READ)
                        .putInt(f[0]).putLong(0x100000).array());
                q.out(0x514, 4, 0);
                q.out(0x518, 4, Integer.reverseBytes(0x1000) & 0xffff_ffffL);
                byte[] data = new byte[f[0]];
                for (int at = 0; at < f[0]; at += 4096) {
                    byte[] chunk = q.read(0x100000 + at, Math.min(4096, f[0] - at));
                    System.arraycopy(chunk, 0, data, at, chunk.length);
                }
                files.put(name, data);
            }
        }
        byte[] theirs = files.get(AcpiFwCfgFiles.LOADER_FILE);
        assertThat(theirs.length % TableLoader.COMMAND_SIZE).isZero();
        List<String> qemuCommands = commands(theirs);
        // ALLOCATE/ADD_POINTER/ADD_CHECKSUM, and all-zero padding entries (QEMU pads the script; firmware skips them).
        for (String c : qemuCommands) assertThat(c.substring(0, 8)).isIn("00000000", "01000000", "02000000", "03000000");

        // Our script for our tables: the allocations must be exactly QEMU's.
        byte[] ours = AcpiFwCfgFiles.from(FwCfgAcpiLoaderTest.tables().build(0xe0000)).loader();
        List<String> ourCommands = commands(ours);
        assertThat(qemuCommands).contains(ourCommands.get(0), ourCommands.get(1));
        // QEMU's RSDP revision decides which RSDP commands it has; those we share must be identical:
        // always the RSDT pointer (offset 16, 4 bytes) and the 20-byte checksum (at 8); with revision
        // 2 also the XSDT pointer (24, 8 bytes) and the extended checksum (at 32).
        byte[] rsdp = files.get(AcpiFwCfgFiles.RSDP_FILE);
        String rsdpName = hexName(AcpiFwCfgFiles.RSDP_FILE);
        List<String> shared = new ArrayList<>();
        for (String c : ourCommands) {
            byte[] b = HexFormat.of().parseHex(c);
            ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
            if (!c.substring(8).startsWith(rsdpName)) continue;
            if (bb.getInt(0) == TableLoader.ADD_POINTER) {
                int offset = bb.getInt(116);
                if (offset == 16 && rsdp[15] < 2) continue;          // (QEMU's rev 0 RSDP: RSDT only; we always have both)
                if (offset == 16 || rsdp[15] >= 2) shared.add(c);
            } else if (bb.getInt(0) == TableLoader.ADD_CHECKSUM) {
                int offset = bb.getInt(60);
                if (offset == 8 || rsdp[15] >= 2) shared.add(c);
            }
        }
        assertThat(shared).isNotEmpty();
        assertThat(qemuCommands).containsAll(shared);

        // Our client runs QEMU's script over QEMU's files (served by our device).
        try (Arena arena = Arena.ofConfined()) {
            GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(4 << 20, 4096))));
            Bus pio = new Bus("pio");
            FwCfg fw = new FwCfg(memory);
            fw.registerPorts(pio);
            files.forEach(fw::addFile);
            FwCfgClient client = new FwCfgClient(pio, memory, 0x7000);
            FwCfgClient.Loaded loaded = client.runLoader(0xf0000, 0x100000, 0x300000, 4 << 20);
            long rsdpAt = loaded.addresses().get(AcpiFwCfgFiles.RSDP_FILE);
            byte[] r = bytes(memory, rsdpAt, 36);
            assertThat(new String(r, 0, 8, StandardCharsets.US_ASCII)).isEqualTo("RSD PTR ");
            assertThat(sum(r, 20)).isZero();
            ByteBuffer rb = ByteBuffer.wrap(r).order(ByteOrder.LITTLE_ENDIAN);
            long root = r[15] >= 2 ? rb.getLong(24) : rb.getInt(16) & 0xffff_ffffL;
            int entry = r[15] >= 2 ? 8 : 4;
            byte[] sdt = table(memory, root);
            List<String> sigs = new ArrayList<>();
            ByteBuffer sb = ByteBuffer.wrap(sdt).order(ByteOrder.LITTLE_ENDIAN);
            for (int at = 36; at < sdt.length; at += entry) {
                long p = entry == 8 ? sb.getLong(at) : sb.getInt(at) & 0xffff_ffffL;
                byte[] t = table(memory, p);
                String sig = new String(t, 0, 4, StandardCharsets.US_ASCII);
                sigs.add(sig);
                if (sig.equals("FACP")) table(memory, ByteBuffer.wrap(t).order(ByteOrder.LITTLE_ENDIAN).getInt(40) & 0xffff_ffffL); // DSDT
            }
            assertThat(sigs).contains("FACP", "APIC");
        }
    }

    private static byte[] table(GuestMemory m, long at) {
        int len = ByteBuffer.wrap(bytes(m, at + 4, 4)).order(ByteOrder.LITTLE_ENDIAN).getInt();
        byte[] t = bytes(m, at, len);
        assertThat(sum(t, len)).as(new String(t, 0, 4, StandardCharsets.US_ASCII) + " checksum after QEMU's script").isZero();
        return t;
    }

    private static List<String> commands(byte[] script) {
        List<String> out = new ArrayList<>();
        for (int c = 0; c < script.length; c += TableLoader.COMMAND_SIZE)
            out.add(HexFormat.of().formatHex(Arrays.copyOfRange(script, c, c + TableLoader.COMMAND_SIZE)));
        return out;
    }

    private static String hexName(String name) {
        return HexFormat.of().formatHex(name.getBytes(StandardCharsets.US_ASCII));
    }

    private static byte[] le32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }

    private static byte[] bytes(GuestMemory m, long at, int len) {
        byte[] b = new byte[len];
        m.read(at, b, 0, len);
        return b;
    }

    private static int sum(byte[] b, int len) {
        int s = 0;
        for (int i = 0; i < len; i++) s += b[i];
        return s & 0xff;
    }
}
