package dev.vmm.chipset.fwcfg;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The edges of fw_cfg that the main tests leave open (found by PIT, docs/testing.md): accesses
 * outside the ports' widths, validation limits taken exactly at the limit, DMA transfers longer
 * than one internal chunk or crossing a RAM region boundary in the guest-to-device direction, and
 * the SeaBIOS items that are only present when configured.
 */
class FwCfgEdgesTest {
    private static final long REGION = 2 << 20;                 // two adjacent 2 MiB regions
    private final Arena arena = Arena.ofConfined();
    private final GuestMemory memory = new GuestMemory(List.of(
            new GuestRegion(0, 0, arena.allocate(REGION, 4096)),
            new GuestRegion(1, REGION, arena.allocate(REGION, 4096))));
    private final Bus pio = new Bus("pio");
    private final FwCfg fw = new FwCfg(memory);
    private final FwCfgClient client = new FwCfgClient(pio, memory, 0x1000);

    FwCfgEdgesTest() {
        fw.registerPorts(pio);
    }

    @AfterEach
    void close() {
        arena.close();
    }

    @Test
    void accessesOutsideTheRegisterBlockReadAllOnesOfTheirWidth() {
        assertThat(fw.read(FwCfg.SIZE, 1)).isEqualTo(0xff);
        assertThat(fw.read(FwCfg.SIZE - 1, 2)).isEqualTo(0xffff);       // runs one byte past the block
        assertThat(fw.read(-1, 1)).isEqualTo(0xff);
        assertThat(fw.read(0, 9)).isEqualTo(-1L);
        assertThat(fw.read(0, 0)).isZero();
        // The whole DMA register in one 8-byte access fits exactly: the signature in port order.
        assertThat(fw.read(FwCfg.DMA_PORT - FwCfg.SELECTOR_PORT, 8)).isEqualTo(Long.reverseBytes(FwCfgKeys.DMA_SIGNATURE));
        byte[] sig = "QEMU CFG".getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < 8; i++) assertThat(pio.read(FwCfg.DMA_PORT + i, 1)).as("port 0x%x", FwCfg.DMA_PORT + i).isEqualTo((long) sig[i]);
        assertThat(pio.read(0x512, 1)).isEqualTo(0xff);
        assertThat(pio.read(0x513, 1)).isEqualTo(0xff);
    }

    @Test
    void onlyA16BitStoreAtTheSelectorSelects() {
        fw.setItem(FwCfgKeys.NB_CPUS, new byte[] {7, 0});
        client.select(FwCfgKeys.NB_CPUS);
        pio.write(0x510, 1, FwCfgKeys.SIGNATURE);     // byte store at the selector: a data write, ignored
        pio.write(0x511, 2, FwCfgKeys.SIGNATURE);     // word store at the data port: not a selector
        fw.write(0, 4, FwCfgKeys.SIGNATURE);           // dword at 0x510: not a selector
        assertThat(pio.read(0x511, 1)).isEqualTo(7);
    }

    @Test
    void freshDeviceHasAnEmptyFileDirectory() {
        assertThat(client.readPio(FwCfgKeys.FILE_DIR, 4)).containsExactly(0, 0, 0, 0);
        assertThat(client.directory()).isEmpty();
        assertThat(fw.fileKey("nothing")).isEqualTo(-1);
        assertThat(fw.file("nothing")).isNull();
    }

    @Test
    void numberedKeysUpToTheFileRangeAndArchLocalKeysAreAccepted() {
        fw.setItem(FwCfgKeys.FILE_FIRST - 1, new byte[] {1});
        fw.setItem(FwCfgKeys.ARCH_LOCAL | FwCfgKeys.FILE_FIRST, new byte[] {2});
        assertThat(client.readPio(FwCfgKeys.FILE_FIRST - 1, 1)).containsExactly(1);
        assertThat(client.readPio(FwCfgKeys.ARCH_LOCAL | FwCfgKeys.FILE_FIRST, 1)).containsExactly(2);
        assertThatThrownBy(() -> fw.setItem(FwCfgKeys.FILE_FIRST, new byte[1])).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> fw.setItem(FwCfgKeys.ID, new byte[1])).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> fw.setItem(FwCfgKeys.FILE_DIR | FwCfgKeys.WRITE_CHANNEL, new byte[1]))
                .isInstanceOf(IllegalArgumentException.class);
        // File names: the printable range is inclusive at both ends ('!' and '~'), DEL is not printable.
        fw.addFile("!~", new byte[] {3});
        assertThat(client.readPio(fw.fileKey("!~"), 1)).containsExactly(3);
        assertThatThrownBy(() -> fw.addFile("a\u007f", new byte[1])).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void dmaReadLongerThanOneMebibyteAcrossTwoRegions() {
        byte[] data = new byte[(1 << 20) + 4096 + 3];
        for (int i = 0; i < data.length; i++) data[i] = (byte) (i * 31 + (i >>> 12));
        fw.addFile("etc/big", data);
        long buf = REGION - 4096;                       // 4 KiB in region 0, the rest in region 1
        int sel = fw.fileKey("etc/big") << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_READ;
        assertThat(client.dma(sel, data.length + 5, buf)).isZero();
        assertThat(slice(buf, data.length)).isEqualTo(data);
        assertThat(slice(buf + data.length, 5)).containsOnly(0);   // zeros past the end
        // A zero-length transfer needs no RAM at all and succeeds anywhere.
        assertThat(client.dma(sel, 0, 0x7000_0000L)).isZero();
        // Guest address 0 is RAM like any other.
        assertThat(client.dma(sel, 4, 0)).isZero();
        assertThat(slice(0, 4)).isEqualTo(Arrays.copyOf(data, 4));
    }

    @Test
    void dmaWriteFromABufferAndADescriptorThatCrossARegionBoundary() {
        fw.addFile("etc/rw", new byte[16], true);
        byte[] src = new byte[16];
        for (int i = 0; i < 16; i++) src[i] = (byte) (0xa0 + i);
        memory.write(REGION - 6, Arrays.copyOf(src, 6));                // 6 bytes before the boundary,
        memory.write(REGION, Arrays.copyOfRange(src, 6, 16));           // 10 after
        int sel = fw.fileKey("etc/rw") << 16 | FwCfgKeys.DMA_SELECT;
        assertThat(client.dma(sel | FwCfgKeys.DMA_WRITE, 16, REGION - 6)).isZero();
        assertThat(fw.file("etc/rw")).isEqualTo(src);
        // A descriptor that itself straddles the boundary is read whole.
        byte[] d = ByteBuffer.allocate(16).putInt(sel | FwCfgKeys.DMA_READ).putInt(16).putLong(0x8000).array();
        memory.write(REGION - 8, Arrays.copyOf(d, 8));
        memory.write(REGION, Arrays.copyOfRange(d, 8, 16));
        pio.write(0x514, 4, 0);
        pio.write(0x518, 4, Integer.reverseBytes((int) (REGION - 8)));
        assertThat(memory.readU32(REGION - 8)).as("control cleared: success").isZero();
        assertThat(slice(0x8000, 16)).isEqualTo(src);
        // At the end of the item a zero-length write is still fine; one more byte is not.
        assertThat(client.dma(FwCfgKeys.DMA_WRITE, 0, REGION - 6)).isZero();
        assertThat(client.dma(FwCfgKeys.DMA_WRITE, 1, REGION - 6)).isEqualTo(FwCfgKeys.DMA_ERROR);
    }

    @Test
    void skipMovesTheSharedOffsetAndAHugeSkipOnlyReachesTheEnd() {
        fw.addFile("etc/x", new byte[] {10, 11, 12, 13, 14});
        int key = fw.fileKey("etc/x");
        assertThat(client.dma(key << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_SKIP, 2, 0)).isZero();
        assertThat(pio.read(0x511, 1)).isEqualTo(12);
        for (int i = 0; i < 4; i++) assertThat(client.dma(FwCfgKeys.DMA_SKIP, -1, 0)).isZero(); // 4 x 4 GiB
        assertThat(pio.read(0x511, 1)).isZero();
        assertThat(client.dma(FwCfgKeys.DMA_READ, 2, 0x8000)).isZero();
        assertThat(slice(0x8000, 2)).containsOnly(0);
    }

    @Test
    void seaBiosOptionalItemsAndLimits() {
        byte[] anchor = "_SM3_anchor".getBytes(StandardCharsets.US_ASCII);
        byte[] tables = {1, 2, 3, 4};
        new SeaBiosConfig().cpus(288, 288).nographic(false).bootMenu(true).smbios(anchor, tables)
                .file("etc/extra", new byte[] {9, 8}).install(fw);
        assertThat(le(client.readPio(FwCfgKeys.NB_CPUS, 2))).isEqualTo(288);
        assertThat(le(client.readPio(FwCfgKeys.NOGRAPHIC, 2))).isZero();
        assertThat(le(client.readPio(FwCfgKeys.BOOT_MENU, 2))).isEqualTo(1);
        assertThat(client.directory()).containsOnlyKeys(SeaBiosConfig.BOOT_FAIL_WAIT_FILE, SeaBiosConfig.SMBIOS_ANCHOR_FILE,
                SeaBiosConfig.SMBIOS_TABLES_FILE, "etc/extra");
        assertThat(fw.file(SeaBiosConfig.SMBIOS_ANCHOR_FILE)).isEqualTo(anchor);
        assertThat(fw.file(SeaBiosConfig.SMBIOS_TABLES_FILE)).isEqualTo(tables);
        assertThat(fw.file("etc/extra")).containsExactly(9, 8);
        assertThat(fw.file(SeaBiosConfig.BOOT_FAIL_WAIT_FILE)).containsExactly(0xff, 0xff, 0xff, 0xff); // default -1
        assertThat(client.readPio(FwCfgKeys.CMDLINE_SIZE, 4)).containsOnly(0);                           // no cmdline

        SeaBiosConfig c = new SeaBiosConfig();
        c.cpus(1, 1).ramSize(1).bootFailWait(-1).serialConsole(1).serialConsole(0xfff8).bootDevice(" ~");
        assertThatThrownBy(() -> c.cpus(0, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.cpus(2, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.cpus(1, 289)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.ramSize(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.bootFailWait(-2)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.serialConsole(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.serialConsole(0xfff9)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.bootDevice("a\u001f")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.bootDevice("a\u007f")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void loaderCommandLimitsAreInclusive() {
        String longest = "f".repeat(FwCfgKeys.MAX_FILE_PATH - 1);
        byte[] script = new TableLoader().allocate(longest, 1, TableLoader.ZONE_HIGH)
                .addPointer(longest, "src", 0, 1).addPointer("a", "b", 4, 2)
                .addChecksum(longest, 0, 0, 0).bytes();
        ByteBuffer b = ByteBuffer.wrap(script).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(script).hasSize(4 * TableLoader.COMMAND_SIZE);
        assertThat(b.getInt(60)).isEqualTo(1);                               // alignment
        assertThat(b.get(TableLoader.COMMAND_SIZE + 120)).isEqualTo((byte) 1); // pointer size
        assertThat(b.get(2 * TableLoader.COMMAND_SIZE + 120)).isEqualTo((byte) 2);
        assertThat(b.getInt(3 * TableLoader.COMMAND_SIZE)).isEqualTo(TableLoader.ADD_CHECKSUM);
        TableLoader t = new TableLoader();
        assertThatThrownBy(() -> t.allocate("f".repeat(FwCfgKeys.MAX_FILE_PATH), 1, TableLoader.ZONE_HIGH))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> t.addPointer("a", "b", 0, 3)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> t.addPointer("a", "b", -1, 4)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> t.addChecksum("a", -1, 0, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> t.addChecksum("a", 0, -1, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> t.addChecksum("a", 0, 0, -1)).isInstanceOf(IllegalArgumentException.class);
        assertThat(t.bytes()).isEmpty();
    }

    private byte[] slice(long gpa, int len) {
        byte[] out = new byte[len];
        for (int i = 0; i < len; i++) out[i] = memory.readU8(gpa + i);
        return out;
    }

    private static long le(byte[] b) {
        long v = 0;
        for (int i = b.length - 1; i >= 0; i--) v = v << 8 | (b[i] & 0xff);
        return v;
    }
}
