package dev.vmm.migration;

import java.io.FilterInputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The migration wire format (all integers big-endian, as {@link java.io.DataOutputStream} writes):
 *
 * <pre>
 * source → destination
 *   stream    = header setup (page* end-iter)+ device complete go
 *   header    = "VMM-MIGR" u32:version(1)
 *   setup     = u8:0x01 u32:page-size u32:capabilities u32:n (u64:base u64:size){n} u32:crc
 *               capabilities: bit0 xbzrle, bit1 iteration acks
 *   page      = u8:0x10 u64:pfn                            ZERO: the page is all zeros
 *             | u8:0x11 u64:pfn byte[page-size]            FULL
 *             | u8:0x12 u64:pfn u16:len byte[len]          XBZRLE delta (QEMU's format) vs the page
 *                                                          the destination has; 1 ≤ len < page-size
 *   end-iter  = u8:0x20 u32:iteration u32:crc
 *   device    = u8:0x30 state-stream                       StateWriter's format, up to its end marker
 *   complete  = u8:0x40 u64:page-records u32:crc
 *   go        = u8:0x50                                    only after READY: the destination may run
 * destination → source (the return path)
 *   ready     = u8:0x01                                    everything arrived, checked and loaded
 *   nak       = u8:0x02 utf:reason                         the destination failed (then closes)
 *   ack       = u8:0x03 u32:iteration                      with bit1: that iteration arrived, checked
 *                                                          and written to RAM (the source waits for it
 *                                                          before its next dirty sync)
 * </pre>
 *
 * {@code pfn} is the guest-physical address divided by the page size. Each {@code crc} is the
 * CRC32C of every byte since the end of the previous crc field (or the start of the stream), the
 * marker's own type and fields included, so a damaged FULL page or delta is caught at the end of
 * its iteration; nothing received runs before {@code go}.
 */
final class MigrationProtocol {
    static final byte[] MAGIC = "VMM-MIGR".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 1;

    static final int SETUP = 0x01;
    static final int ZERO = 0x10;
    static final int FULL = 0x11;
    static final int XBZRLE = 0x12;
    static final int END_ITERATION = 0x20;
    static final int DEVICE = 0x30;
    static final int COMPLETE = 0x40;
    static final int GO = 0x50;

    static final int READY = 0x01;
    static final int NAK = 0x02;
    static final int ACK = 0x03;

    static final int CAP_XBZRLE = 1;
    static final int CAP_ITERATION_ACK = 2;
    static final int KNOWN_CAPS = CAP_XBZRLE | CAP_ITERATION_ACK;

    static final int MAX_REGIONS = 1024;
    static final int MIN_PAGE = 4096;
    static final int MAX_PAGE = 65536;

    private MigrationProtocol() {}

    /** Lets a {@link dev.vmm.migration.stream.StateWriter} end its stream without closing ours. */
    static OutputStream nonClosing(OutputStream out) {
        return new FilterOutputStream(out) {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, len);
            }

            @Override
            public void close() throws IOException {
                flush();
            }
        };
    }

    /** Lets a {@link dev.vmm.migration.stream.StateReader} be closed without closing ours. */
    static InputStream nonClosing(InputStream in) {
        return new FilterInputStream(in) {
            @Override
            public void close() { }
        };
    }
}
