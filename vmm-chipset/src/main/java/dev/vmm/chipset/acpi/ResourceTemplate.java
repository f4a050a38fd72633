package dev.vmm.chipset.acpi;

import java.io.ByteArrayOutputStream;

/**
 * An ASL {@code ResourceTemplate()}: resource descriptors (ACPI 6.x section 6.4) followed by the
 * End Tag, which {@link #toData()} wraps in a Buffer. The address-space descriptors are written as
 * a PCI root bridge's windows are: ResourceProducer, MinFixed, MaxFixed, PosDecode, with a
 * translation offset of 0 and {@code length = max - min + 1}.
 */
public final class ResourceTemplate {
    // Small descriptors: bit 7 = 0, bits 6-3 = item name, bits 2-0 = length.
    static final int IRQ_NO_FLAGS_TAG = 0x22; // IRQ, 2 bytes
    static final int IO_TAG = 0x47;           // I/O port, 7 bytes
    static final int END_TAG = 0x79;          // end tag, 1 byte (checksum)
    // Large descriptors: bit 7 = 1, then the item name; a 16-bit length follows.
    static final int DWORD_ADDRESS_TAG = 0x87, WORD_ADDRESS_TAG = 0x88, QWORD_ADDRESS_TAG = 0x8a;
    static final int MEMORY32_FIXED_TAG = 0x86;
    // Resource types of the address-space descriptors.
    static final int TYPE_MEMORY = 0, TYPE_IO = 1, TYPE_BUS_NUMBER = 2;
    /** General flags: _MAF (bit 3) and _MIF (bit 2) set, _DEC (bit 1) = positive, bit 0 = producer. */
    static final int PRODUCER_MIN_MAX_FIXED = 0x0c;
    /** Memory type-specific flags: _RW (bit 0) read-write, _MEM (bits 2-1) = 1 cacheable. */
    static final int MEMORY_CACHEABLE_RW = 0x03;
    /** I/O type-specific flags: _RNG (bits 1-0) = 3, ISA and non-ISA ranges. */
    static final int IO_ENTIRE_RANGE = 0x03;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    /** {@code IO(Decode16, min, max, alignment, length)}. */
    public ResourceTemplate io(int min, int max, int alignment, int length) {
        check16(min, "IO minimum");
        check16(max, "IO maximum");
        if (max < min) throw new IllegalArgumentException("IO maximum below minimum");
        if (alignment < 0 || alignment > 0xff) throw new IllegalArgumentException("IO alignment must fit a byte");
        if (length < 0 || length > 0xff) throw new IllegalArgumentException("IO length must fit a byte");
        out.write(IO_TAG);
        out.write(0x01); // decodes 16 address bits
        le(min, 2);
        le(max, 2);
        out.write(alignment);
        out.write(length);
        return this;
    }

    /** {@code IRQNoFlags() { irqs }}: edge-triggered, active-high ISA interrupts 0-15. */
    public ResourceTemplate irqNoFlags(int... irqs) {
        if (irqs.length == 0) throw new IllegalArgumentException("no IRQ given");
        int mask = 0;
        for (int irq : irqs) {
            if (irq < 0 || irq > 15) throw new IllegalArgumentException("ISA IRQ must be 0..15: " + irq);
            mask |= 1 << irq;
        }
        out.write(IRQ_NO_FLAGS_TAG);
        le(mask, 2);
        return this;
    }

    /** {@code Memory32Fixed(ReadWrite, base, length)}. */
    public ResourceTemplate memory32Fixed(long base, long length) {
        checkRange32(base, length, "Memory32Fixed");
        out.write(MEMORY32_FIXED_TAG);
        le(9, 2);
        out.write(0x01); // read-write
        le(base, 4);
        le(length, 4);
        return this;
    }

    /** {@code WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, first, last, 0, count)}. */
    public ResourceTemplate wordBusNumber(int first, int last) {
        if (first < 0 || last > 0xff || last < first)
            throw new IllegalArgumentException("bus range must be within 0..255: " + first + "-" + last);
        return address(WORD_ADDRESS_TAG, 2, TYPE_BUS_NUMBER, 0, first, last);
    }

    /** {@code WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, min, max, 0, len)}. */
    public ResourceTemplate wordIo(int min, int max) {
        check16(min, "WordIO minimum");
        check16(max, "WordIO maximum");
        if (max < min) throw new IllegalArgumentException("WordIO maximum below minimum");
        // the length field is 16 bits too: 0..0xFFFF (0x10000 ports) would be written as 0
        if (min == 0 && max == 0xffff) throw new IllegalArgumentException("WordIO length 0x10000 does not fit 16 bits");
        return address(WORD_ADDRESS_TAG, 2, TYPE_IO, IO_ENTIRE_RANGE, min, max);
    }

    /** {@code DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0, min, max, 0, len)}. */
    public ResourceTemplate dwordMemory(long min, long max) {
        if (min < 0 || max > 0xffff_ffffL || max < min)
            throw new IllegalArgumentException("DWordMemory range must be within 32 bits: 0x"
                    + Long.toHexString(min) + "-0x" + Long.toHexString(max));
        if (min == 0 && max == 0xffff_ffffL) throw new IllegalArgumentException("DWordMemory length 4 GiB does not fit 32 bits");
        return address(DWORD_ADDRESS_TAG, 4, TYPE_MEMORY, MEMORY_CACHEABLE_RW, min, max);
    }

    /** {@code QWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0, min, max, 0, len)}. */
    public ResourceTemplate qwordMemory(long min, long max) {
        if (Long.compareUnsigned(max, min) < 0 || (min == 0 && max == -1L))
            throw new IllegalArgumentException("bad QWordMemory range 0x" + Long.toHexString(min)
                    + "-0x" + Long.toHexString(max));
        return address(QWORD_ADDRESS_TAG, 8, TYPE_MEMORY, MEMORY_CACHEABLE_RW, min, max);
    }

    private ResourceTemplate address(int tag, int width, int type, int typeFlags, long min, long max) {
        out.write(tag);
        le(3 + 5 * width, 2); // bytes after the length field
        out.write(type);
        out.write(PRODUCER_MIN_MAX_FIXED);
        out.write(typeFlags);
        le(0, width);             // granularity (address decode mask): none needed for fixed ranges
        le(min, width);
        le(max, width);
        le(0, width);             // translation offset
        le(max - min + 1, width); // length
        return this;
    }

    /** The descriptors plus the End Tag (checksum byte 0 = "treat as correct"). */
    public byte[] toByteArray() {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(out.toByteArray());
        b.write(END_TAG);
        b.write(0);
        return b.toByteArray();
    }

    /** The template as an AML Buffer, the value of a {@code _CRS} name. */
    public AmlBuilder.Data toData() {
        return AmlBuilder.buffer(toByteArray());
    }

    private void le(long v, int bytes) {
        AmlBuilder.writeLe(out, v, bytes);
    }

    private static void check16(int v, String what) {
        if (v < 0 || v > 0xffff) throw new IllegalArgumentException(what + " must be a 16-bit port: " + v);
    }

    private static void checkRange32(long base, long length, String what) {
        if (base < 0 || length < 0 || base + length > 0x1_0000_0000L)
            throw new IllegalArgumentException(what + " must lie below 4 GiB");
    }
}
