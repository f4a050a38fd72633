package dev.vmm.chipset.smbios;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.fwcfg.FwCfg;
import dev.vmm.chipset.fwcfg.FwCfgKeys;
import dev.vmm.chipset.fwcfg.SeaBiosConfig;
import dev.vmm.chipset.testing.ExternalTool;
import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * SMBIOS as firmware receives it through fw_cfg, from QEMU 7.2 and from us, given the same
 * {@code -smbios} options: both anchors + tables are read by DMA, placed as SeaBIOS does (table
 * address filled in, checksums recomputed) into a dmidecode dump, and dmidecode must report the
 * same BIOS and System Information (fields, handle, structure length) for both.
 */
class SmbiosQemuOracleTest {
    static final UUID UUID_1 = UUID.fromString("9f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    static final String TYPE1 = "type=1,manufacturer=Acme,,Inc,product=RoadRunner,version=2.0,serial=SN-42,uuid=" + UUID_1
            + ",sku=SKU7,family=Birds";
    static final String TYPE0 = "type=0,vendor=Test BIOS,version=9.9,date=12/31/2025,release=9.9";

    /** Port/DMA access to an fw_cfg, either QEMU's or ours. */
    interface FwCfgPort {
        void out(int port, int size, long value);
        long in(int port, int size);
        void write(long addr, byte[] data);
        byte[] read(long addr, int size);
    }

    static Map<String, byte[]> smbiosFiles(FwCfgPort p) {
        p.out(0x510, 2, FwCfgKeys.FILE_DIR);
        int count = 0;
        for (int i = 0; i < 4; i++) count = count << 8 | (int) p.in(0x511, 1);
        Map<String, int[]> dir = new HashMap<>();
        for (int f = 0; f < count; f++) {
            byte[] e = new byte[64];
            for (int i = 0; i < 64; i++) e[i] = (byte) p.in(0x511, 1);
            ByteBuffer b = ByteBuffer.wrap(e);
            int len = 0;
            while (e[8 + len] != 0) len++;
            dir.put(new String(e, 8, len, StandardCharsets.US_ASCII), new int[] {b.getInt(0), b.getShort(4) & 0xffff});
        }
        Map<String, byte[]> out = new HashMap<>();
        for (String name : List.of(SeaBiosConfig.SMBIOS_ANCHOR_FILE, SeaBiosConfig.SMBIOS_TABLES_FILE)) {
            int[] f = dir.get(name);
            assertThat(f).as(name).isNotNull();
            p.write(0x1000, ByteBuffer.allocate(16).putInt(f[1] << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_READ)
                    .putInt(f[0]).putLong(0x10000).array());
            p.out(0x514, 4, 0);
            p.out(0x518, 4, Integer.reverseBytes(0x1000) & 0xffff_ffffL);
            assertThat(p.read(0x1000, 4)).as("DMA control").containsOnly(0);
            out.put(name, p.read(0x10000, f[0]));
        }
        return out;
    }

    /** What SeaBIOS does with the anchor: table address filled in (here 0x20, dmidecode's dump layout), checksums redone. */
    static byte[] dump(byte[] anchor, byte[] tables) {
        byte[] ep = anchor.clone();
        ByteBuffer b = ByteBuffer.wrap(ep).order(ByteOrder.LITTLE_ENDIAN);
        if (new String(ep, 0, 5, StandardCharsets.US_ASCII).equals("_SM3_")) {
            b.putLong(0x10, 0x20);
            ep[5] = 0;
            ep[5] = dev.vmm.chipset.firmware.TableBytes.checksum(ep, 0, ep[6] & 0xff);
        } else {
            assertThat(new String(ep, 0, 4, StandardCharsets.US_ASCII)).isEqualTo("_SM_");
            b.putInt(0x18, 0x20);
            ep[0x15] = 0;
            ep[0x15] = dev.vmm.chipset.firmware.TableBytes.checksum(ep, 0x10, 0x0f);
            ep[4] = 0;
            ep[4] = dev.vmm.chipset.firmware.TableBytes.checksum(ep, 0, ep[5] & 0xff);
        }
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.writeBytes(ep);
        o.writeBytes(new byte[0x20 - ep.length]);
        o.writeBytes(tables);
        return o.toByteArray();
    }

    /** dmidecode's text for one structure type (handle line, title, fields). */
    static String decode(Path dir, String name, byte[] dump, int type) throws Exception {
        Path bin = ExternalTool.require("dmidecode", "dmidecode");
        Files.write(dir.resolve(name), dump);
        ExternalTool.Result r = ExternalTool.run(dir, bin, "--from-dump", name, "-t", Integer.toString(type));
        assertThat(r.exitCode()).as(r.output()).isZero();
        SmbiosTest.assertNoComplaints(r.output());
        String out = r.output();
        return out.substring(out.indexOf("Handle "));
    }

    @Test
    @Timeout(120)
    void dmidecodeSeesTheSameBiosAndSystemInformationFromQemuAndFromUs(@TempDir Path dir) throws Exception {
        QemuQtest.assumeInstalled();
        ExternalTool.require("dmidecode", "dmidecode");
        Map<String, byte[]> qemu;
        try (QemuQtest q = QemuQtest.start("-M", "q35", "-m", "512", "-smbios", TYPE1, "-smbios", TYPE0)) {
            qemu = smbiosFiles(new FwCfgPort() {
                public void out(int port, int size, long value) { q.out(port, size, value); }
                public long in(int port, int size) { return q.in(port, size); }
                public void write(long addr, byte[] data) { q.write(addr, data); }
                public byte[] read(long addr, int size) { return q.read(addr, size); }
            });
        }
        boolean qemuUses30 = new String(qemu.get(SeaBiosConfig.SMBIOS_ANCHOR_FILE), 0, 5, StandardCharsets.US_ASCII).equals("_SM3_");
        Map<String, byte[]> ours;
        try (Arena arena = Arena.ofConfined()) {
            GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(1 << 20, 4096))));
            Bus pio = new Bus("pio");
            FwCfg fw = new FwCfg(memory);
            fw.registerPorts(pio);
            SmbiosTables t = SmbiosTables.builder().ram(0, 512L << 20).apply(SmbiosSpec.parse(TYPE1)).apply(SmbiosSpec.parse(TYPE0)).build();
            new SeaBiosConfig().smbios(t, qemuUses30).install(fw);
            ours = smbiosFiles(new FwCfgPort() {
                public void out(int port, int size, long value) { pio.write(port, size, value); }
                public long in(int port, int size) { return pio.read(port, size); }
                public void write(long addr, byte[] data) { memory.write(addr, data); }
                public byte[] read(long addr, int size) {
                    byte[] b = new byte[size];
                    memory.read(addr, b, 0, size);
                    return b;
                }
            });
        }
        // Same anchor kind and length (QEMU leaves the checksums to the firmware; ours are valid for address 0).
        byte[] qa = qemu.get(SeaBiosConfig.SMBIOS_ANCHOR_FILE), oa = ours.get(SeaBiosConfig.SMBIOS_ANCHOR_FILE);
        assertThat(oa).hasSameSizeAs(qa);
        assertThat(Arrays.copyOf(oa, 4)).isEqualTo(Arrays.copyOf(qa, 4));
        byte[] qd = dump(qemu.get(SeaBiosConfig.SMBIOS_ANCHOR_FILE), qemu.get(SeaBiosConfig.SMBIOS_TABLES_FILE));
        byte[] od = dump(ours.get(SeaBiosConfig.SMBIOS_ANCHOR_FILE), ours.get(SeaBiosConfig.SMBIOS_TABLES_FILE));
        for (int type : new int[] {0, 1}) {
            String theirs = decode(dir, "qemu.bin", qd, type);
            String mine = decode(dir, "ours.bin", od, type);
            if (type == 0) {
                // BIOS Information: the fields the options set (QEMU's ROM size/characteristics are its own).
                for (String field : List.of("Vendor:", "Version:", "Release Date:", "BIOS Revision:")) {
                    assertThat(line(mine, field)).as(field).isEqualTo(line(theirs, field));
                }
                assertThat(line(mine, "Handle")).isEqualTo(line(theirs, "Handle"));
            } else {
                assertThat(mine).isEqualTo(theirs);   // System Information: every line, incl. handle and length
            }
        }
    }

    private static String line(String text, String prefix) {
        return text.lines().map(String::trim).filter(l -> l.startsWith(prefix)).findFirst().orElse("<missing " + prefix + ">");
    }
}
