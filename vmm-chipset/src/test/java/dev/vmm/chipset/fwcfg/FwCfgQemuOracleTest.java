package dev.vmm.chipset.fwcfg;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The same port and DMA accesses against QEMU 7.2's fw_cfg (run at test time through qtest) and
 * ours, configured alike (2 vCPUs, 512 MiB, a UUID, no boot menu, graphics not disabled): every
 * value read must be the same. Only items both sides define are read; QEMU's files differ.
 */
class FwCfgQemuOracleTest {
    static final UUID UUID_A = UUID.fromString("0badcafe-1234-5678-9abc-def012345678");

    /** One side of the comparison: port I/O and guest memory. */
    interface Side {
        long in(int port, int size);
        void out(int port, int size, long value);
        void write(long addr, byte[] data);
        byte[] read(long addr, int size);
    }

    /** The access script: every value read, in order, with a label. */
    static List<String> script(Side s) {
        List<String> out = new ArrayList<>();
        int[] keys = {FwCfgKeys.SIGNATURE, FwCfgKeys.ID, FwCfgKeys.UUID, FwCfgKeys.RAM_SIZE, FwCfgKeys.NOGRAPHIC,
                FwCfgKeys.NB_CPUS, FwCfgKeys.BOOT_MENU, FwCfgKeys.MAX_CPUS};
        for (int key : keys) {
            s.out(0x510, 2, key);
            StringBuilder b = new StringBuilder("key " + key + ":");
            for (int i = 0; i < 20; i++) b.append(' ').append(Long.toHexString(s.in(0x511, 1)));   // past the end too
            out.add(b.toString());
        }
        // Bit 14 (write channel) selects the same item; 0x510 reads data too; wide reads split per port.
        s.out(0x510, 2, FwCfgKeys.SIGNATURE | FwCfgKeys.WRITE_CHANNEL);
        out.add("wc: " + Long.toHexString(s.in(0x511, 1)) + " " + Long.toHexString(s.in(0x510, 1)));
        out.add("inw 0x511: " + Long.toHexString(s.in(0x511, 2)));
        out.add("inw 0x510: " + Long.toHexString(s.in(0x510, 2)));
        out.add("inl 0x510: " + Long.toHexString(s.in(0x510, 4)));
        out.add("inl 0x512: " + Long.toHexString(s.in(0x512, 4)));
        for (int p = 0x514; p < 0x51c; p++) out.add("inb " + Integer.toHexString(p) + ": " + Long.toHexString(s.in(p, 1)));
        out.add("inw 0x516: " + Long.toHexString(s.in(0x516, 2)));
        out.add("inl 0x518: " + Long.toHexString(s.in(0x518, 4)));
        s.out(0x511, 1, 0x55);                                    // data writes are ignored
        s.out(0x510, 2, FwCfgKeys.NB_CPUS);
        out.add("after data write: " + Long.toHexString(s.in(0x511, 1)));
        s.out(0x510, 2, 0x3abc);                                  // no such item
        out.add("missing: " + Long.toHexString(s.in(0x511, 1)));

        // DMA: descriptor at 0x1000, buffer at 0x2000.
        byte[] junk = new byte[32];
        java.util.Arrays.fill(junk, (byte) 0xee);
        dma(s, out, "select+read ID + 4 past the end", FwCfgKeys.ID << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_READ, 8, 0x2000, junk);
        dma(s, out, "select+read uuid", FwCfgKeys.UUID << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_READ, 16, 0x2000, junk);
        dma(s, out, "select, skip 2, read", FwCfgKeys.SIGNATURE << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_SKIP, 2, 0, junk);
        dma(s, out, "read rest of signature", FwCfgKeys.DMA_READ, 4, 0x2000, junk);
        dma(s, out, "write to a read-only item", FwCfgKeys.NB_CPUS << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_WRITE, 2, 0x2000, junk);
        dma(s, out, "read into unassigned memory", FwCfgKeys.SIGNATURE << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_READ, 4, 0x7fff_0000L, junk);
        dma(s, out, "select only", FwCfgKeys.NB_CPUS << 16 | FwCfgKeys.DMA_SELECT, 0, 0, junk);
        out.add("port after DMA select: " + Long.toHexString(s.in(0x511, 1)));
        dma(s, out, "read from a missing item", 0x3abc << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_READ, 4, 0x2000, junk);
        out.add("DMA register after a transfer: " + Long.toHexString(s.in(0x514, 4)));
        return out;
    }

    private static void dma(Side s, List<String> out, String what, int control, int length, long address, byte[] junk) {
        s.write(0x2000, junk);
        s.write(0x1000, ByteBuffer.allocate(16).putInt(control).putInt(length).putLong(address).array());
        s.out(0x514, 4, 0);                                       // high half (0), big-endian
        s.out(0x518, 4, Integer.reverseBytes(0x1000) & 0xffff_ffffL);
        out.add(what + ": control " + java.util.HexFormat.of().formatHex(s.read(0x1000, 4))
                + " buffer " + java.util.HexFormat.of().formatHex(s.read(0x2000, 24)));
    }

    @Test
    @Timeout(60)
    void portsAndDmaBehaveLikeQemu() throws Exception {
        QemuQtest.assumeInstalled();
        List<String> qemuSide;
        try (QemuQtest q = QemuQtest.start("-M", "q35", "-m", "512", "-smp", "2", "-uuid", UUID_A.toString(), "-boot", "menu=off")) {
            qemuSide = script(new Side() {
                public long in(int port, int size) { return q.in(port, size); }
                public void out(int port, int size, long value) { q.out(port, size, value); }
                public void write(long addr, byte[] data) { q.write(addr, data); }
                public byte[] read(long addr, int size) { return q.read(addr, size); }
            });
        }
        List<String> ours;
        try (Arena arena = Arena.ofConfined()) {
            GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(2 << 20, 4096))));
            Bus pio = new Bus("pio");
            FwCfg fw = new FwCfg(memory);
            fw.registerPorts(pio);
            new SeaBiosConfig().cpus(2, 2).ramSize(512L << 20).uuid(UUID_A).nographic(false).bootMenu(false).install(fw);
            ours = script(new Side() {
                public long in(int port, int size) { return pio.read(port, size); }
                public void out(int port, int size, long value) { pio.write(port, size, value); }
                public void write(long addr, byte[] data) { memory.write(addr, data); }
                public byte[] read(long addr, int size) {
                    byte[] b = new byte[size];
                    memory.read(addr, b, 0, size);
                    return b;
                }
            });
        }
        assertThat(ours).containsExactlyElementsOf(qemuSide);
    }

    @Test
    @Timeout(60)
    void qemuSortsItsFileDirectoryByNameWithAscendingKeysAsWeDo() throws Exception {
        QemuQtest.assumeInstalled();
        try (QemuQtest q = QemuQtest.start("-M", "q35", "-m", "512")) {
            q.out(0x510, 2, FwCfgKeys.FILE_DIR);
            long count = 0;
            for (int i = 0; i < 4; i++) count = count << 8 | q.in(0x511, 1);
            assertThat(count).isGreaterThan(3);
            List<String> names = new ArrayList<>();
            List<Integer> keys = new ArrayList<>();
            for (int f = 0; f < count; f++) {
                byte[] e = new byte[64];
                for (int i = 0; i < 64; i++) e[i] = (byte) q.in(0x511, 1);
                keys.add(((e[4] & 0xff) << 8) | (e[5] & 0xff));
                int len = 0;
                while (e[8 + len] != 0) len++;
                names.add(new String(e, 8, len, java.nio.charset.StandardCharsets.US_ASCII));
            }
            assertThat(names).isSorted().contains("etc/acpi/tables", "etc/table-loader", "etc/e820");
            assertThat(keys).isSorted().doesNotHaveDuplicates();
            assertThat(keys.getFirst()).isEqualTo(FwCfgKeys.FILE_FIRST);
        }
    }
}
