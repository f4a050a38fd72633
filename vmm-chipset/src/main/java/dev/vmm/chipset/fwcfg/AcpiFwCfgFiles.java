package dev.vmm.chipset.fwcfg;

import dev.vmm.chipset.acpi.AcpiTables;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The machine's ACPI tables as the three fw_cfg files firmware expects: {@code etc/acpi/rsdp} (the
 * 36-byte RSDP, loaded into the F-segment where OSes scan for it), {@code etc/acpi/tables}
 * (everything else, FACS first, loaded in high memory 64-byte aligned as the FACS requires) and
 * {@code etc/table-loader} (the {@link TableLoader} script relocating them).
 *
 * <p>Built from the very {@link AcpiTables} image direct boot copies into RAM, using its
 * {@linkplain AcpiTables#pointerFields() pointer} and {@linkplain AcpiTables#checksumFields()
 * checksum} lists: in the files every pointer holds the offset of its target inside the target's
 * file (ADD_POINTER adds the file's load address) and every checksum byte is zero (ADD_CHECKSUM
 * computes it after the pointers are patched). So a firmware that runs the script ends up with
 * exactly the tables direct boot writes, only at addresses of its choosing.
 */
public record AcpiFwCfgFiles(byte[] rsdp, byte[] tables, byte[] loader) {
    public static final String RSDP_FILE = "etc/acpi/rsdp";
    public static final String TABLES_FILE = "etc/acpi/tables";
    public static final String LOADER_FILE = "etc/table-loader";
    /** The FACS must be 64-byte aligned, and it is the first table of the tables file. */
    public static final int TABLES_ALIGNMENT = 64;
    public static final int RSDP_ALIGNMENT = 16;

    /** Splits and relinks {@code acpi}, which must have been built at a 64-byte aligned address. */
    public static AcpiFwCfgFiles from(AcpiTables acpi) {
        byte[] image = acpi.bytes();
        int tablesStart = (int) (acpi.tableAddresses().get("FACS") - acpi.address());
        if ((acpi.address() & (TABLES_ALIGNMENT - 1)) != 0 || tablesStart < AcpiTables.RSDP_SIZE)
            throw new IllegalArgumentException("build the ACPI image at a 64-byte aligned address for fw_cfg");
        byte[] rsdp = Arrays.copyOf(image, AcpiTables.RSDP_SIZE);
        byte[] tables = Arrays.copyOfRange(image, tablesStart, image.length);
        TableLoader script = new TableLoader()
                .allocate(RSDP_FILE, RSDP_ALIGNMENT, TableLoader.ZONE_FSEG)
                .allocate(TABLES_FILE, TABLES_ALIGNMENT, TableLoader.ZONE_HIGH);
        for (AcpiTables.PointerField p : acpi.pointerFields()) {
            if (p.targetOffset() < tablesStart) throw new IllegalStateException("pointer into the RSDP: " + p);
            boolean inRsdp = p.offset() < AcpiTables.RSDP_SIZE;
            byte[] file = inRsdp ? rsdp : tables;
            int at = inRsdp ? p.offset() : p.offset() - tablesStart;
            put(file, at, p.size(), p.targetOffset() - tablesStart);
            script.addPointer(inRsdp ? RSDP_FILE : TABLES_FILE, TABLES_FILE, at, p.size());
        }
        for (AcpiTables.ChecksumField c : acpi.checksumFields()) {
            boolean inRsdp = c.start() < AcpiTables.RSDP_SIZE;
            int base = inRsdp ? 0 : tablesStart;
            (inRsdp ? rsdp : tables)[c.offset() - base] = 0;
            script.addChecksum(inRsdp ? RSDP_FILE : TABLES_FILE, c.offset() - base, c.start() - base, c.length());
        }
        return new AcpiFwCfgFiles(rsdp, tables, script.bytes());
    }

    /** Adds the three files to {@code fwCfg}. */
    public void install(FwCfg fwCfg) {
        fwCfg.addFile(RSDP_FILE, rsdp);
        fwCfg.addFile(TABLES_FILE, tables);
        fwCfg.addFile(LOADER_FILE, loader);
    }

    private static void put(byte[] file, int at, int size, long value) {
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        if (size == 4) b.putInt(at, (int) value);
        else b.putLong(at, value);
    }
}
