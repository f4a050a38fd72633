package dev.vmm.chipset.smbios;

import dev.vmm.chipset.firmware.TableBytes;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;

/**
 * SMBIOS structures (DMTF DSP0134) for the machine and their 2.8 ({@code _SM_}, 32-bit) and 3.0
 * ({@code _SM3_}, 64-bit) entry points. Types built:
 *
 * <ul>
 *   <li>0 BIOS Information (0x18 bytes, "virtual machine" characteristic), 1 System Information
 *       (0x1B, UUID with the first three fields little-endian as 2.6+ requires), 3 Enclosure (0x16),
 *       4 Processor Information per vCPU socket (0x2A), 16 Physical Memory Array (0x17),
 *       17 Memory Device per 16 GiB of RAM (0x28), 19 Memory Array Mapped Address per RAM range
 *       (0x1F), 32 System Boot Information (0x0B) and 127 End-of-Table;</li>
 *   <li>{@code --smbios} overrides ({@link SmbiosSpec}) for types 0, 1, 3, 4 and 17.</li>
 * </ul>
 *
 * Handles follow QEMU's scheme (type &lt;&lt; 8, plus an index) so they stay stable across boots.
 * Through fw_cfg, {@link #entryPoint21}/{@link #entryPoint30} with address 0 become
 * {@code etc/smbios/smbios-anchor} and {@link #structures()} {@code etc/smbios/smbios-tables}; the
 * firmware places the table and fixes the address and checksums.
 */
public final class SmbiosTables {
    public static final int EP21_SIZE = 0x1f;
    public static final int EP30_SIZE = 0x18;
    static final long DIMM_MAX = 16L << 30;

    private final byte[] structures;
    private final int count;
    private final int maxStructureSize;

    private SmbiosTables(byte[] structures, int count, int maxStructureSize) {
        this.structures = structures;
        this.count = count;
        this.maxStructureSize = maxStructureSize;
    }

    /** The structure table (all structures, End-of-Table last). */
    public byte[] structures() { return structures.clone(); }

    public int structureCount() { return count; }

    public int maxStructureSize() { return maxStructureSize; }

    /** The 31-byte SMBIOS 2.8 entry point for a table at {@code tableAddress} (below 4 GiB). */
    public byte[] entryPoint21(long tableAddress) {
        if (tableAddress < 0 || tableAddress > 0xffff_ffffL) throw new IllegalArgumentException("2.x table must lie below 4 GiB");
        if (structures.length > 0xffff) throw new IllegalStateException("table too large for a 2.x entry point");
        ByteBuffer b = ByteBuffer.allocate(EP21_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.put("_SM_".getBytes(StandardCharsets.US_ASCII));
        b.put((byte) 0);                     // checksum, below
        b.put((byte) EP21_SIZE);
        b.put((byte) 2).put((byte) 8);       // SMBIOS 2.8
        b.putShort((short) maxStructureSize);
        b.put((byte) 0);                     // entry point revision 0
        b.put(new byte[5]);                  // formatted area
        b.put("_DMI_".getBytes(StandardCharsets.US_ASCII));
        b.put((byte) 0);                     // intermediate checksum, below
        b.putShort((short) structures.length);
        b.putInt((int) tableAddress);
        b.putShort((short) count);
        b.put((byte) 0x28);                  // BCD revision 2.8
        byte[] ep = b.array();
        ep[0x15] = TableBytes.checksum(ep, 0x10, 0x0f);
        ep[4] = TableBytes.checksum(ep, 0, EP21_SIZE);
        return ep;
    }

    /** The 24-byte SMBIOS 3.0 entry point for a table at {@code tableAddress}. */
    public byte[] entryPoint30(long tableAddress) {
        ByteBuffer b = ByteBuffer.allocate(EP30_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.put("_SM3_".getBytes(StandardCharsets.US_ASCII));
        b.put((byte) 0);                     // checksum, below
        b.put((byte) EP30_SIZE);
        b.put((byte) 3).put((byte) 0).put((byte) 0); // SMBIOS 3.0.0
        b.put((byte) 1);                     // entry point revision: 3.0 entry point
        b.put((byte) 0);
        b.putInt(structures.length);         // structure table maximum size
        b.putLong(tableAddress);
        byte[] ep = b.array();
        ep[5] = TableBytes.checksum(ep, 0, EP30_SIZE);
        return ep;
    }


    public static Builder builder() {
        return new Builder();
    }

    /** A RAM range as the E820 map has it. */
    public record RamRange(long base, long size) {
        public RamRange {
            if (base < 0 || size <= 0 || base + size < base) throw new IllegalArgumentException("bad RAM range");
        }
    }

    public static final class Builder {
        private int sockets = 1, coresPerSocket = 1, threadsPerCore = 1;
        private long cpuid1Eax = 0x000806f8, cpuid1Edx = 0x0f8bfbff;
        private final List<RamRange> ram = new ArrayList<>();
        private UUID uuid;
        private String product = "vmm";
        private final Map<Integer, Map<String, String>> overrides = new java.util.HashMap<>();

        /** Sockets x cores x threads (one type 4 per socket). */
        public Builder cpus(int sockets, int coresPerSocket, int threadsPerCore) {
            if (sockets < 1 || sockets > 255 || coresPerSocket < 1 || coresPerSocket > 255 || threadsPerCore < 1 || threadsPerCore > 255)
                throw new IllegalArgumentException("cpu topology out of range");
            this.sockets = sockets;
            this.coresPerSocket = coresPerSocket;
            this.threadsPerCore = threadsPerCore;
            return this;
        }

        /** CPUID leaf 1 EAX/EDX for the Processor ID field. */
        public Builder cpuid(long eax, long edx) {
            this.cpuid1Eax = eax & 0xffff_ffffL;
            this.cpuid1Edx = edx & 0xffff_ffffL;
            return this;
        }

        /** A guest RAM range (call for the range below 4 GiB and the one above). */
        public Builder ram(long base, long size) {
            ram.add(new RamRange(base, size));
            return this;
        }

        public Builder uuid(UUID uuid) {
            this.uuid = Objects.requireNonNull(uuid);
            return this;
        }

        /** Product name default (type 1), e.g. the machine type. */
        public Builder product(String product) {
            this.product = Objects.requireNonNull(product);
            return this;
        }

        /** Applies a {@code --smbios} option; later ones override earlier keys. */
        public Builder apply(SmbiosSpec spec) {
            overrides.computeIfAbsent(spec.type(), k -> new java.util.HashMap<>()).putAll(spec.fields());
            if (spec.uuid() != null) uuid = spec.uuid();
            return this;
        }

        private String o(int type, String key, String dflt) {
            Map<String, String> m = overrides.get(type);
            return m != null && m.containsKey(key) ? m.get(key) : dflt;
        }

        public SmbiosTables build() {
            if (ram.isEmpty()) throw new IllegalStateException("no RAM ranges given");
            List<byte[]> out = new ArrayList<>();
            out.add(type0());
            out.add(type1());
            out.add(type3());
            for (int s = 0; s < sockets; s++) out.add(type4(s));
            long total = ram.stream().mapToLong(RamRange::size).sum();
            int dimms = (int) ((total + DIMM_MAX - 1) / DIMM_MAX);
            out.add(type16(total, dimms));
            for (int i = 0; i < dimms; i++) out.add(type17(i, Math.min(DIMM_MAX, total - i * DIMM_MAX)));
            for (int i = 0; i < ram.size(); i++) out.add(type19(i, ram.get(i)));
            out.add(type32());
            out.add(new Structure(127, 4, 0x7f00).bytes());
            ByteArrayOutputStream table = new ByteArrayOutputStream();
            int max = 0;
            for (byte[] s : out) {
                table.writeBytes(s);
                max = Math.max(max, s.length);
            }
            return new SmbiosTables(table.toByteArray(), out.size(), max);
        }

        private byte[] type0() {
            Structure s = new Structure(0, 0x18, 0x000);
            s.b.put(4, s.str(o(0, "vendor", "dev.vmm")));
            s.b.put(5, s.str(o(0, "version", "0.1")));
            s.b.putShort(6, (short) 0xe800);                  // BIOS starting segment
            // The date a guest of QEMU 7.2 + SeaBIOS sees (SeaBIOS's own type 0). It matters: Linux's rtc-cmos
            // takes a BIOS year >= 2015 on Intel with an HPET as a sign of the "ACPI alarm" platforms and then
            // expects RTC alarms as the ACPI RTC fixed event while running, which neither QEMU nor AcpiPm raise
            // (docs/lifecycle.md); a 2026 date here made our --firmware guests take that path and lose alarms.
            s.b.put(8, s.str(o(0, "date", "04/01/2014")));
            s.b.put(9, (byte) 0);                             // ROM size 64 KiB
            s.b.putLong(0x0a, 1L << 3);                       // "BIOS characteristics not supported"
            s.b.put(0x12, (byte) 0);
            s.b.put(0x13, (byte) ((1 << 4) | (1 << 2)));      // ext. byte 2: virtual machine, targeted content distribution
            String[] rel = o(0, "release", "0.1").split("\\.");
            s.b.put(0x14, (byte) Integer.parseInt(rel[0]));
            s.b.put(0x15, (byte) Integer.parseInt(rel[1]));
            s.b.put(0x16, (byte) 0xff).put(0x17, (byte) 0xff); // no embedded controller
            return s.bytes();
        }

        private byte[] type1() {
            Structure s = new Structure(1, 0x1b, 0x100);
            s.b.put(4, s.str(o(1, "manufacturer", "dev.vmm")));
            s.b.put(5, s.str(o(1, "product", product)));
            s.b.put(6, s.str(o(1, "version", null)));
            s.b.put(7, s.str(o(1, "serial", null)));
            if (uuid != null) {
                // SMBIOS 2.6+: time_low, time_mid, time_hi_and_version little-endian, the rest as is.
                ByteBuffer u = ByteBuffer.allocate(16).putLong(uuid.getMostSignificantBits()).putLong(uuid.getLeastSignificantBits());
                byte[] raw = u.array();
                byte[] f = {raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6],
                        raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]};
                s.b.put(8, f);
            }
            s.b.put(0x18, (byte) 0x06);                       // wake-up: power switch
            s.b.put(0x19, s.str(o(1, "sku", null)));
            s.b.put(0x1a, s.str(o(1, "family", null)));
            return s.bytes();
        }

        private byte[] type3() {
            Structure s = new Structure(3, 0x16, 0x300);
            s.b.put(4, s.str(o(3, "manufacturer", "dev.vmm")));
            s.b.put(5, (byte) 0x01);                          // type: other
            s.b.put(6, s.str(o(3, "version", null)));
            s.b.put(7, s.str(o(3, "serial", null)));
            s.b.put(8, s.str(o(3, "asset", null)));
            s.b.put(9, (byte) 3).put(0x0a, (byte) 3).put(0x0b, (byte) 3); // boot-up, power, thermal: safe
            s.b.put(0x0c, (byte) 2);                          // security: unknown
            s.b.put(0x15, s.str(o(3, "sku", null)));
            return s.bytes();
        }

        private byte[] type4(int socket) {
            Structure s = new Structure(4, 0x2a, 0x400 + socket);
            s.b.put(4, s.str(o(4, "sock_pfx", "CPU") + " " + socket));
            s.b.put(5, (byte) 0x03);                          // central processor
            s.b.put(6, (byte) 0xfe);                          // family: see Processor Family 2
            s.b.put(7, s.str(o(4, "manufacturer", "dev.vmm")));
            s.b.putInt(8, (int) cpuid1Eax).putInt(12, (int) cpuid1Edx);
            s.b.put(0x10, s.str(o(4, "version", "vCPU")));
            s.b.put(0x11, (byte) 0);
            s.b.putShort(0x12, (short) 0);                    // external clock unknown
            s.b.putShort(0x14, (short) Integer.parseInt(o(4, "max-speed", "2000")));
            s.b.putShort(0x16, (short) Integer.parseInt(o(4, "current-speed", "2000")));
            s.b.put(0x18, (byte) 0x41);                       // socket populated, CPU enabled
            s.b.put(0x19, (byte) 0x01);                       // upgrade: other
            s.b.putShort(0x1a, (short) 0xffff).putShort(0x1c, (short) 0xffff).putShort(0x1e, (short) 0xffff); // no caches
            s.b.put(0x20, s.str(o(4, "serial", null)));
            s.b.put(0x21, s.str(o(4, "asset", null)));
            s.b.put(0x22, s.str(o(4, "part", null)));
            s.b.put(0x23, (byte) coresPerSocket).put(0x24, (byte) coresPerSocket);
            s.b.put(0x25, (byte) Math.min(255, coresPerSocket * threadsPerCore));
            s.b.putShort(0x26, (short) (0x04 | (threadsPerCore > 1 ? 0x10 : 0) | (coresPerSocket > 1 ? 0x08 : 0))); // 64-bit capable
            s.b.putShort(0x28, (short) 0x01);                 // family 2: other
            return s.bytes();
        }

        private byte[] type16(long total, int dimms) {
            Structure s = new Structure(16, 0x17, 0x1000);
            s.b.put(4, (byte) 0x01);                          // location: other
            s.b.put(5, (byte) 0x03);                          // use: system memory
            s.b.put(6, (byte) 0x06);                          // error correction: multi-bit ECC
            long kib = total >>> 10;
            if (kib < 0x8000_0000L) {
                s.b.putInt(7, (int) kib);
            } else {
                s.b.putInt(7, 0x8000_0000);                   // see extended maximum capacity
                s.b.putLong(0x0f, total);
            }
            s.b.putShort(0x0b, (short) 0xfffe);               // no memory error information
            s.b.putShort(0x0d, (short) dimms);
            return s.bytes();
        }

        private byte[] type17(int index, long size) {
            Structure s = new Structure(17, 0x28, 0x1100 + index);
            s.b.putShort(4, (short) 0x1000);                  // the type 16 array
            s.b.putShort(6, (short) 0xfffe);
            s.b.putShort(8, (short) 64).putShort(0x0a, (short) 64); // total/data width
            long mib = size >>> 20;
            if (mib < 0x7fff) {
                s.b.putShort(0x0c, (short) mib);
            } else {
                s.b.putShort(0x0c, (short) 0x7fff);           // see extended size
                s.b.putInt(0x1c, (int) mib);
            }
            s.b.put(0x0e, (byte) 0x09);                       // DIMM
            s.b.put(0x10, s.str(o(17, "loc_pfx", "DIMM") + " " + index));
            s.b.put(0x11, s.str(o(17, "bank", null)));
            s.b.put(0x12, (byte) 0x07);                       // RAM
            s.b.putShort(0x13, (short) 0x0002);               // type detail: other
            int speed = Integer.parseInt(o(17, "speed", "0"));
            s.b.putShort(0x15, (short) speed);
            s.b.put(0x17, s.str(o(17, "manufacturer", "dev.vmm")));
            s.b.put(0x18, s.str(o(17, "serial", null)));
            s.b.put(0x19, s.str(o(17, "asset", null)));
            s.b.put(0x1a, s.str(o(17, "part", null)));
            s.b.putShort(0x20, (short) speed);
            return s.bytes();
        }

        private byte[] type19(int index, RamRange r) {
            Structure s = new Structure(19, 0x1f, 0x1300 + index);
            long startKib = r.base() >>> 10, endKib = ((r.base() + r.size()) >>> 10) - 1;
            if (endKib < 0xffff_ffffL) {
                s.b.putInt(4, (int) startKib).putInt(8, (int) endKib);
            } else {
                s.b.putInt(4, 0xffff_ffff).putInt(8, 0xffff_ffff);
                s.b.putLong(0x0f, r.base()).putLong(0x17, r.base() + r.size() - 1);
            }
            s.b.putShort(0x0c, (short) 0x1000);
            s.b.put(0x0e, (byte) 1);                          // partition width
            return s.bytes();
        }

        private byte[] type32() {
            Structure s = new Structure(32, 0x0b, 0x2000);
            s.b.put(0x0a, (byte) 0);                          // no errors detected
            return s.bytes();
        }
    }

    /** One structure: formatted area (little-endian) then its string set. */
    private static final class Structure {
        final ByteBuffer b;
        final List<String> strings = new ArrayList<>();

        Structure(int type, int length, int handle) {
            b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
            b.put(0, (byte) type).put(1, (byte) length).putShort(2, (short) handle);
        }

        /** String number for {@code s} (1-based), or 0 = none for null/empty. */
        byte str(String s) {
            if (s == null || s.isEmpty()) return 0;
            int i = strings.indexOf(s);
            if (i < 0) {
                strings.add(s);
                i = strings.size() - 1;
            }
            return (byte) (i + 1);
        }

        byte[] bytes() {
            ByteArrayOutputStream o = new ByteArrayOutputStream();
            o.writeBytes(b.array());
            if (strings.isEmpty()) {
                o.write(0);
            } else {
                for (String s : strings) {
                    o.writeBytes(s.getBytes(StandardCharsets.US_ASCII));
                    o.write(0);
                }
            }
            o.write(0);
            return o.toByteArray();
        }
    }
}
