package dev.vmm.chipset.fwcfg;

import dev.vmm.chipset.acpi.AcpiTables;
import dev.vmm.chipset.firmware.E820Map;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.UUID;

/**
 * The fw_cfg items SeaBIOS (and QEMU's other firmware) reads at boot, in QEMU 7.2's formats:
 *
 * <ul>
 *   <li>{@code NB_CPUS} / {@code MAX_CPUS} (u16 LE), {@code RAM_SIZE} (u64 LE), {@code NOGRAPHIC},
 *       {@code BOOT_MENU} (u16 LE), {@code UUID} (16 bytes, RFC 4122 byte order);</li>
 *   <li>{@code etc/e820}: 20-byte little-endian entries {u64 address, u64 length, u32 type};</li>
 *   <li>{@code bootorder}: one OpenFirmware device path per line ({@code /pci@i0cf8/...});</li>
 *   <li>{@code etc/boot-fail-wait} (u32 LE, ms; SeaBIOS reboots after a failed boot),
 *       {@code etc/sercon-port} (u16 LE I/O port: SeaBIOS mirrors its screen to that UART),
 *       {@code etc/show-boot-menu}, via {@link #file} for anything else;</li>
 *   <li>ACPI through {@link AcpiFwCfgFiles} and SMBIOS ({@code etc/smbios/smbios-anchor} +
 *       {@code etc/smbios/smbios-tables}).</li>
 * </ul>
 *
 * Call {@link #install(FwCfg)} once the machine is described.
 */
public final class SeaBiosConfig {
    public static final String E820_FILE = "etc/e820";
    public static final String BOOT_ORDER_FILE = "bootorder";
    public static final String BOOT_FAIL_WAIT_FILE = "etc/boot-fail-wait";
    public static final String SERCON_PORT_FILE = "etc/sercon-port";
    public static final String SMBIOS_ANCHOR_FILE = "etc/smbios/smbios-anchor";
    public static final String SMBIOS_TABLES_FILE = "etc/smbios/smbios-tables";

    private int cpus = 1, maxCpus = 1;
    private long ramSize;
    private UUID uuid;
    private boolean nographic = true;
    private boolean bootMenu;
    private E820Map e820;
    private final List<String> bootOrder = new ArrayList<>();
    private int bootFailWaitMs = -1;
    private int serconPort = -1;
    private AcpiTables acpi;
    private byte[] smbiosAnchor, smbiosTables;
    private String cmdline;
    private final List<Object[]> extraFiles = new ArrayList<>();

    /** Boot vCPUs and the most there can be (hot-plug); both 1..288 as in QEMU's pc machines. */
    public SeaBiosConfig cpus(int cpus, int maxCpus) {
        if (cpus < 1 || maxCpus < cpus || maxCpus > 288) throw new IllegalArgumentException("cpus 1..max..288: " + cpus + "/" + maxCpus);
        this.cpus = cpus;
        this.maxCpus = maxCpus;
        return this;
    }

    public SeaBiosConfig ramSize(long bytes) {
        if (bytes <= 0) throw new IllegalArgumentException("RAM size must be positive");
        this.ramSize = bytes;
        return this;
    }

    public SeaBiosConfig uuid(UUID uuid) {
        this.uuid = Objects.requireNonNull(uuid);
        return this;
    }

    /** Whether there is no display (SeaBIOS then skips VGA setup niceties). Default true. */
    public SeaBiosConfig nographic(boolean nographic) {
        this.nographic = nographic;
        return this;
    }

    public SeaBiosConfig bootMenu(boolean show) {
        this.bootMenu = show;
        return this;
    }

    /** The memory map SeaBIOS starts from (RAM and reserved ranges; it adds its own). */
    public SeaBiosConfig e820(E820Map map) {
        this.e820 = Objects.requireNonNull(map);
        return this;
    }

    /** One OpenFirmware device path, in priority order (e.g. {@code /pci@i0cf8/ide@1,1/drive@0/disk@0}). */
    public SeaBiosConfig bootDevice(String path) {
        if (path.isEmpty() || path.chars().anyMatch(c -> c < 0x20 || c > 0x7e))
            throw new IllegalArgumentException("boot device path must be printable ASCII: " + path);
        bootOrder.add(path);
        return this;
    }

    /** Milliseconds SeaBIOS waits after "No bootable device" before rebooting; -1 = never reboot. */
    public SeaBiosConfig bootFailWait(int ms) {
        if (ms < -1) throw new IllegalArgumentException("boot-fail-wait must be >= -1");
        this.bootFailWaitMs = ms;
        return this;
    }

    /** The I/O port of the UART SeaBIOS copies its text screen to (e.g. 0x3f8 for COM1). */
    public SeaBiosConfig serialConsole(int port) {
        if (port <= 0 || port > 0xfff8) throw new IllegalArgumentException("bad serial port 0x" + Integer.toHexString(port));
        this.serconPort = port;
        return this;
    }

    /** ACPI tables, served through the linker/loader (build them at a 64-byte aligned address). */
    public SeaBiosConfig acpi(AcpiTables tables) {
        this.acpi = Objects.requireNonNull(tables);
        return this;
    }

    /** SMBIOS: the entry point (2.1/2.8 {@code _SM_} or 3.0 {@code _SM3_}) and the structure table. */
    public SeaBiosConfig smbios(byte[] anchor, byte[] tables) {
        this.smbiosAnchor = anchor.clone();
        this.smbiosTables = tables.clone();
        return this;
    }

    /**
     * SMBIOS from {@code tables}: a 3.0 ({@code _SM3_}) or 2.8 ({@code _SM_}) anchor with table
     * address 0, which the firmware fills in when it places the structures.
     */
    public SeaBiosConfig smbios(dev.vmm.chipset.smbios.SmbiosTables tables, boolean entryPoint30) {
        return smbios(entryPoint30 ? tables.entryPoint30(0) : tables.entryPoint21(0), tables.structures());
    }

    /** The kernel command line items (CMDLINE_SIZE/CMDLINE_DATA) for an option ROM that boots a kernel. */
    public SeaBiosConfig kernelCmdline(String cmdline) {
        this.cmdline = Objects.requireNonNull(cmdline);
        return this;
    }

    /** Any other named file. */
    public SeaBiosConfig file(String name, byte[] data) {
        extraFiles.add(new Object[] {name, data.clone()});
        return this;
    }

    public void install(FwCfg fw) {
        fw.setItem(FwCfgKeys.NB_CPUS, le(2, cpus));
        fw.setItem(FwCfgKeys.MAX_CPUS, le(2, maxCpus));
        if (ramSize > 0) fw.setItem(FwCfgKeys.RAM_SIZE, le(8, ramSize));
        fw.setItem(FwCfgKeys.NOGRAPHIC, le(2, nographic ? 1 : 0));
        fw.setItem(FwCfgKeys.BOOT_MENU, le(2, bootMenu ? 1 : 0));
        if (uuid != null) {
            fw.setItem(FwCfgKeys.UUID, ByteBuffer.allocate(16).putLong(uuid.getMostSignificantBits())
                    .putLong(uuid.getLeastSignificantBits()).array());
        }
        if (e820 != null) fw.addFile(E820_FILE, e820Bytes(e820));
        if (!bootOrder.isEmpty()) {
            // Newline-separated, NUL-terminated: SeaBIOS splits the file at '\n'.
            fw.addFile(BOOT_ORDER_FILE, (String.join("\n", bootOrder) + "\0").getBytes(StandardCharsets.US_ASCII));
        }
        // Always present, as QEMU 7.2 has it: without the file SeaBIOS waits 60 s and reboots, -1 means never.
        fw.addFile(BOOT_FAIL_WAIT_FILE, le(4, bootFailWaitMs));
        if (serconPort > 0) fw.addFile(SERCON_PORT_FILE, le(2, serconPort));
        if (acpi != null) AcpiFwCfgFiles.from(acpi).install(fw);
        if (smbiosAnchor != null) {
            fw.addFile(SMBIOS_ANCHOR_FILE, smbiosAnchor);
            fw.addFile(SMBIOS_TABLES_FILE, smbiosTables);
        }
        if (cmdline != null) {
            byte[] c = (cmdline + "\0").getBytes(StandardCharsets.US_ASCII);
            fw.setItem(FwCfgKeys.CMDLINE_SIZE, le(4, c.length));
            fw.setItem(FwCfgKeys.CMDLINE_DATA, c);
        }
        for (Object[] f : extraFiles) fw.addFile((String) f[0], (byte[]) f[1]);
    }

    /** {@code etc/e820}: {u64 address, u64 length, u32 type} little-endian per entry. */
    public static byte[] e820Bytes(E820Map map) {
        ByteBuffer b = ByteBuffer.allocate(20 * map.size()).order(ByteOrder.LITTLE_ENDIAN);
        for (E820Map.Entry e : map.entries()) b.putLong(e.addr()).putLong(e.size()).putInt(e.type().code());
        return b.array();
    }

    static byte[] le(int bytes, long v) {
        byte[] out = new byte[bytes];
        for (int i = 0; i < bytes; i++) out[i] = (byte) (v >>> (8 * i));
        return out;
    }
}
