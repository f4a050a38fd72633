package dev.vmm.chipset.fwcfg;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.firmware.E820Map;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The fw_cfg device driven through its ports and DMA descriptors, byte for byte per QEMU's fw_cfg.rst. */
class FwCfgTest {
    static final long LOW_SIZE = 1 << 20;           // RAM 0 - 1 MiB
    static final long HIGH_BASE = 1 << 20;          // adjacent region 1 MiB - 2 MiB (DMA may span both)
    static final long FAR_BASE = 0x1_0000_0000L;    // 4 GiB - 4 GiB + 64 KiB, after a hole

    private final Arena arena = Arena.ofConfined();
    private final GuestMemory memory = new GuestMemory(List.of(
            new GuestRegion(0, 0, arena.allocate(LOW_SIZE, 4096)),
            new GuestRegion(1, HIGH_BASE, arena.allocate(1 << 20, 4096)),
            new GuestRegion(2, FAR_BASE, arena.allocate(1 << 16, 4096))));
    private final Bus pio = new Bus("pio");
    private final FwCfg fw = new FwCfg(memory);
    private final FwCfgClient client = new FwCfgClient(pio, memory, 0x1000);

    FwCfgTest() {
        fw.registerPorts(pio);
    }

    @AfterEach
    void close() {
        arena.close();
    }

    @Test
    void signatureFeatureBitsAndDmaSignature() {
        assertThat(client.signatureOk()).isTrue();
        assertThat(client.features()).isEqualTo(FwCfgKeys.ID_TRADITIONAL | FwCfgKeys.ID_DMA);
        assertThat(new String(ByteBuffer.allocate(8).putLong(client.dmaSignature()).array(), StandardCharsets.US_ASCII))
                .isEqualTo("QEMU CFG");
        // A 32-bit IN at 0x514 sees the first four bytes of the big-endian register in port order.
        assertThat(pio.read(0x514, 4)).isEqualTo(0x554d4551L); // 'Q','E','M','U' at 0x514..0x517
    }

    @Test
    void withoutGuestMemoryThereIsNoDmaInterface() {
        Bus p = new Bus("pio");
        new FwCfg(null).registerPorts(p);
        FwCfgClient c = new FwCfgClient(p, memory, 0x1000);
        assertThat(c.signatureOk()).isTrue();
        assertThat(c.features()).isEqualTo(FwCfgKeys.ID_TRADITIONAL);
        assertThat(c.dmaSignature()).as("no DMA register: nothing decodes there").isEqualTo(-1L);
    }

    @Test
    void dataPortReadsTheItemInOrderThenZerosAndReselectRestarts() {
        fw.setItem(FwCfgKeys.NB_CPUS, new byte[] {4, 0});
        assertThat(client.readPio(FwCfgKeys.NB_CPUS, 5)).containsExactly(4, 0, 0, 0, 0);
        client.select(FwCfgKeys.NB_CPUS);
        assertThat(pio.read(0x511, 1)).isEqualTo(4);
        client.select(FwCfgKeys.NB_CPUS | FwCfgKeys.WRITE_CHANNEL); // bit 14 names the same item
        assertThat(pio.read(0x511, 1)).isEqualTo(4);
        pio.write(0x511, 1, 0x55);                                  // data port writes are ignored
        assertThat(client.readPio(FwCfgKeys.NB_CPUS, 2)).containsExactly(4, 0);
        assertThat(client.readPio(0x3fff, 3)).containsExactly(0, 0, 0); // no such item
        assertThat(client.readPio(FwCfgKeys.E820_TABLE, 1)).containsExactly(0);
    }

    @Test
    void fileDirectoryIsBigEndianSortedByNameWithConsecutiveKeys() {
        fw.addFile("etc/zeta", new byte[300]);
        fw.addFile("bootorder", new byte[7]);
        fw.addFile("etc/alpha", new byte[] {1, 2, 3});
        // The raw directory: count, then {size, key, reserved, name[56]}.
        byte[] raw = client.readPio(FwCfgKeys.FILE_DIR, 4 + 3 * 64);
        ByteBuffer b = ByteBuffer.wrap(raw);
        assertThat(b.getInt(0)).isEqualTo(3);
        assertThat(b.getInt(4)).isEqualTo(7);
        assertThat(b.getShort(8)).isEqualTo((short) 0x20);
        assertThat(new String(raw, 12, 9, StandardCharsets.US_ASCII)).isEqualTo("bootorder");
        assertThat(raw[12 + 9]).isZero();
        Map<String, FwCfgClient.File> dir = client.directory();
        assertThat(dir.keySet()).containsExactly("bootorder", "etc/alpha", "etc/zeta");
        assertThat(dir.get("etc/alpha")).isEqualTo(new FwCfgClient.File("etc/alpha", 0x21, 3));
        assertThat(dir.get("etc/zeta")).isEqualTo(new FwCfgClient.File("etc/zeta", 0x22, 300));
        assertThat(client.readPio(0x21, 3)).containsExactly(1, 2, 3);
        assertThat(fw.fileKey("etc/zeta")).isEqualTo(0x22);
    }

    @Test
    void dmaSelectReadSkipAndZeroFillPastTheEnd() {
        byte[] data = new byte[5000];
        for (int i = 0; i < data.length; i++) data[i] = (byte) (i * 7);
        fw.addFile("etc/blob", data);
        int key = fw.fileKey("etc/blob");
        long buf = 0x8000;
        assertThat(client.dma(key << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_READ, 100, buf)).isZero();
        assertThat(slice(buf, 100)).isEqualTo(java.util.Arrays.copyOf(data, 100));
        assertThat(client.dma(FwCfgKeys.DMA_SKIP, 900, 0)).isZero();                 // offset 100 -> 1000
        assertThat(client.dma(FwCfgKeys.DMA_READ, 10, buf)).isZero();
        assertThat(slice(buf, 10)).isEqualTo(java.util.Arrays.copyOfRange(data, 1000, 1010));
        // The port interface continues at the same offset (one offset per device).
        assertThat(pio.read(0x511, 1)).isEqualTo(data[1010] & 0xff);
        memory.write(buf, new byte[] {9, 9, 9, 9, 9, 9, 9, 9});
        assertThat(client.dma(FwCfgKeys.DMA_SKIP, 3988, 0)).isZero();               // 1011 + 3988 = 4999
        assertThat(client.dma(FwCfgKeys.DMA_READ, 8, buf)).isZero();
        assertThat(slice(buf, 8)).containsExactly(data[4999], 0, 0, 0, 0, 0, 0, 0);
        // The DMA register reads the signature again after an operation, not the last address.
        assertThat(client.dmaSignature()).isEqualTo(FwCfgKeys.DMA_SIGNATURE);
    }

    @Test
    void dmaReadMaySpanAdjacentRegionsAndA64BitDescriptorAddressWorks() {
        byte[] data = new byte[64];
        java.util.Arrays.fill(data, (byte) 0xab);
        fw.addFile("etc/x", data);
        long buf = HIGH_BASE - 32; // 32 bytes in region 0, 32 in region 1
        assertThat(client.dma(fw.fileKey("etc/x") << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_READ, 64, buf)).isZero();
        assertThat(slice(buf, 64)).isEqualTo(data);
        // Descriptor above 4 GiB: two 32-bit halves.
        assertThat(client.dma(FAR_BASE + 0x100, fw.fileKey("etc/x") << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_READ,
                4, FAR_BASE + 0x200)).isZero();
        assertThat(slice(FAR_BASE + 0x200, 4)).containsExactly(0xab, 0xab, 0xab, 0xab);
    }

    @Test
    void dmaOutsideRamSetsTheErrorBitAndTheDeviceKeepsWorking() {
        fw.addFile("etc/x", new byte[64]);
        int sel = fw.fileKey("etc/x") << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_READ;
        assertThat(client.dma(sel, 64, 0x20_0000)).isEqualTo(FwCfgKeys.DMA_ERROR);           // in the hole
        assertThat(client.dma(sel, 64, 2 * HIGH_BASE - 32)).isEqualTo(FwCfgKeys.DMA_ERROR);  // runs into the hole
        assertThat(client.dma(sel, -1, 0)).isEqualTo(FwCfgKeys.DMA_ERROR);                   // 4 GiB long
        assertThat(client.dma(sel, 16, -16)).isEqualTo(FwCfgKeys.DMA_ERROR);                 // wraps
        assertThat(client.dma(sel, 16, Long.MAX_VALUE)).isEqualTo(FwCfgKeys.DMA_ERROR);
        // A descriptor outside RAM: nothing to read, nothing written, no exception.
        assertThat(client.dma(0x7000_0000L, sel, 16, 0x8000)).isEqualTo(-1);
        assertThat(client.dma(HIGH_BASE * 2 - 8, sel, 16, 0x8000)).isEqualTo(-1);        // straddles the end
        // Still fine afterwards.
        assertThat(client.dma(sel, 64, 0x8000)).isZero();
        assertThat(client.signatureOk()).isTrue();
    }

    @Test
    void dmaWritesOnlyWritableFilesAndNeverPastTheirEnd() {
        fw.addFile("etc/rw", new byte[8], true);
        fw.addFile("etc/ro", new byte[8]);
        memory.write(0x8000, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9});
        int rw = fw.fileKey("etc/rw") << 16 | FwCfgKeys.DMA_SELECT;
        assertThat(client.dma(rw | FwCfgKeys.DMA_WRITE, 4, 0x8000)).isZero();
        assertThat(client.dma(FwCfgKeys.DMA_WRITE, 4, 0x8004)).isZero();
        assertThat(fw.file("etc/rw")).containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
        assertThat(client.dma(rw | FwCfgKeys.DMA_WRITE, 9, 0x8000)).isEqualTo(FwCfgKeys.DMA_ERROR); // truncated: dropped
        assertThat(client.dma(FwCfgKeys.DMA_SKIP, 6, 0)).isZero();
        assertThat(client.dma(FwCfgKeys.DMA_WRITE, 3, 0x8000)).isEqualTo(FwCfgKeys.DMA_ERROR);
        assertThat(fw.file("etc/rw")).containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
        assertThat(client.dma(fw.fileKey("etc/ro") << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_WRITE, 1, 0x8000))
                .isEqualTo(FwCfgKeys.DMA_ERROR);
        assertThat(client.dma(rw | FwCfgKeys.DMA_WRITE, 4, 0x7fff_0000L)).isEqualTo(FwCfgKeys.DMA_ERROR);
        assertThat(fw.file("etc/ro")).containsOnly(0);
        // READ wins over WRITE when both are set (the spec: write only "if bit 4 set and not bit 1").
        assertThat(client.dma(rw | FwCfgKeys.DMA_READ | FwCfgKeys.DMA_WRITE, 2, 0x9000)).isZero();
        assertThat(slice(0x9000, 2)).containsExactly(1, 2);
    }

    @Test
    void itemValidation() {
        assertThatThrownBy(() -> fw.setItem(FwCfgKeys.SIGNATURE, new byte[4])).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> fw.setItem(0x25, new byte[4])).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> fw.addFile("x".repeat(56), new byte[1])).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> fw.addFile("", new byte[1])).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> fw.addFile("a b", new byte[1])).isInstanceOf(IllegalArgumentException.class);
        fw.addFile("x".repeat(55), new byte[1]);
        assertThat(client.directory()).containsKey("x".repeat(55));
    }

    @Test
    void seaBiosItemsInQemusFormats() {
        UUID uuid = UUID.fromString("12345678-9abc-def0-1122-334455667788");
        E820Map e820 = E820Map.builder().add(0, 0x9fc00, E820Map.Type.RAM).add(0x100000, 0x7ff00000L, E820Map.Type.RAM)
                .add(0xb000_0000L, 0x1000_0000L, E820Map.Type.RESERVED).build();
        new SeaBiosConfig().cpus(2, 4).ramSize(0x8000_0000L).uuid(uuid).e820(e820)
                .bootDevice("/pci@i0cf8/*@1f,2/drive@0/disk@0").bootDevice("/rom@genroms/linuxboot_dma.bin")
                .bootFailWait(5000).serialConsole(0x3f8).kernelCmdline("console=ttyS0").install(fw);
        assertThat(le(client.readPio(FwCfgKeys.NB_CPUS, 2))).isEqualTo(2);
        assertThat(le(client.readPio(FwCfgKeys.MAX_CPUS, 2))).isEqualTo(4);
        assertThat(le(client.readPio(FwCfgKeys.RAM_SIZE, 8))).isEqualTo(0x8000_0000L);
        assertThat(le(client.readPio(FwCfgKeys.NOGRAPHIC, 2))).isEqualTo(1);
        assertThat(le(client.readPio(FwCfgKeys.BOOT_MENU, 2))).isZero();
        assertThat(client.readPio(FwCfgKeys.UUID, 16)).containsExactly(0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88);
        assertThat(le(client.readPio(FwCfgKeys.CMDLINE_SIZE, 4))).isEqualTo(14);
        assertThat(client.readPio(FwCfgKeys.CMDLINE_DATA, 14)).isEqualTo("console=ttyS0\0".getBytes(StandardCharsets.US_ASCII));
        Map<String, FwCfgClient.File> dir = client.directory();
        assertThat(dir.keySet()).containsExactly("bootorder", "etc/boot-fail-wait", "etc/e820", "etc/sercon-port");
        ByteBuffer m = ByteBuffer.wrap(client.readFileDma(dir.get("etc/e820"), 0x8000)).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(m.capacity()).isEqualTo(60);
        assertThat(m.getLong(20)).isEqualTo(0x100000);
        assertThat(m.getLong(28)).isEqualTo(0x7ff00000L);
        assertThat(m.getInt(36)).isEqualTo(1);
        assertThat(m.getLong(40)).isEqualTo(0xb000_0000L);
        assertThat(m.getInt(56)).isEqualTo(2);
        assertThat(new String(client.readFileDma(dir.get("bootorder"), 0x8000), StandardCharsets.US_ASCII))
                .isEqualTo("/pci@i0cf8/*@1f,2/drive@0/disk@0\n/rom@genroms/linuxboot_dma.bin\0");
        assertThat(le(client.readFileDma(dir.get("etc/boot-fail-wait"), 0x8000))).isEqualTo(5000);
        assertThat(le(client.readFileDma(dir.get("etc/sercon-port"), 0x8000))).isEqualTo(0x3f8);
    }

    private byte[] slice(long gpa, int len) {
        byte[] out = new byte[len];
        for (int i = 0; i < len; i++) out[i] = memory.readU8(gpa + i); // byte-wise: may span regions
        return out;
    }

    private static long le(byte[] b) {
        long v = 0;
        for (int i = b.length - 1; i >= 0; i--) v = v << 8 | (b[i] & 0xff);
        return v;
    }
}
