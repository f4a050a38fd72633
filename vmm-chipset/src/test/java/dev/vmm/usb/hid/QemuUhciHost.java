package dev.vmm.usb.hid;

import dev.vmm.chipset.testing.QemuQtest;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HexFormat;

/**
 * Just enough of a UHCI (USB 1.1 host controller) driver over QEMU's qtest to run control transfers
 * on a full-speed device of QEMU's own ({@code piix3-usb-uhci} at 00:05.0, the device on port 1):
 * frame list → one queue head → a chain of transfer descriptors (UHCI 1.1 §3), virtual time stepped
 * until the last descriptor is no longer active. Used to read QEMU's descriptors as a guest would.
 */
public final class QemuUhciHost implements AutoCloseable {
    private static final int IO = 0xc000;
    private static final long FRAMES = 0x100000, QH = 0x101000, TDS = 0x102000, BUF = 0x104000;
    private static final int ACTIVE = 1 << 23, STALLED = 1 << 22;

    final QemuQtest q;

    QemuUhciHost(java.nio.file.Path dir, String device) throws Exception {
        this(dir, device, new String[0]);
    }

    /** With {@code extra} QEMU arguments (a {@code -drive} for usb-storage's {@code drive=}). */
    public QemuUhciHost(java.nio.file.Path dir, String device, String... extra) throws Exception {
        // The vCPU halts at the reset vector and virtual time runs, so the controller's 1 ms frame
        // timer does, with nothing but this test touching the bus.
        java.nio.file.Path bios = QemuQtest.haltingBios(dir);
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("-machine", "pc", "-m", "64", "-bios", bios.toString(),
                "-device", "piix3-usb-uhci,id=uhci,addr=05.0", "-device", device + ",bus=uhci.0,port=1"));
        args.addAll(java.util.List.of(extra));
        q = QemuQtest.startRunning(args.toArray(String[]::new));
        q.cfgWrite(0, 5, 0, 0x20, 4, IO | 1);
        q.cfgWrite(0, 5, 0, 0x04, 2, 0x5); // I/O space, bus master
        ByteBuffer fl = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 1024; i++) fl.putInt((int) QH | 2); // every frame: the queue head (Q bit)
        q.write(FRAMES, fl.array());
        q.write(QH, le(1, 1));
        q.out(IO + 8, 4, FRAMES);
        q.out(IO + 6, 2, 0);
        q.out(IO + 0x10, 2, 0x200);   // port 1 reset
        sleep(20);
        q.out(IO + 0x10, 2, 0);
        q.out(IO + 0x10, 2, 0x4);     // enable
        q.out(IO, 2, 0x81);           // run, 64-byte max packet for bandwidth reclamation
    }

    private static byte[] le(int... words) {
        ByteBuffer b = ByteBuffer.allocate(4 * words.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int w : words) b.putInt(w);
        return b.array();
    }

    /** A control transfer to device {@code addr}: IN of {@code length} bytes (0 = no data stage). Null on a STALL. */
    public byte[] control(int addr, int requestType, int request, int value, int index, int length) {
        byte[] setup = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).put((byte) requestType).put((byte) request)
                .putShort((short) value).putShort((short) index).putShort((short) length).array();
        q.write(BUF, setup);
        if (length > 0) q.write(BUF + 0x100, new byte[length]); // a short answer leaves zeros, not the last one's bytes
        int chunks = (length + 7) / 8;
        int n = 0;
        long td = TDS;
        // SETUP, DATA0
        writeTd(td, td + 32, 7 << 21 | addr << 8 | 0x2d, BUF);
        int toggle = 1;
        for (int c = 0; c < chunks; c++, toggle ^= 1) {
            td += 32;
            int len = Math.min(8, length - 8 * c);
            writeTd(td, td + 32, (len - 1) << 21 | toggle << 19 | addr << 8 | 0x69, BUF + 0x100 + 8L * c);
        }
        td += 32;
        // Status stage: the other direction, DATA1, zero length.
        writeTd(td, -1, 0x7ff << 21 | 1 << 19 | addr << 8 | (length > 0 ? 0xe1 : 0x69), 0);
        if (run(td) < 0) return null;
        return length == 0 ? new byte[0] : q.read(BUF + 0x100, length);
    }

    /**
     * One bulk packet (UHCI 1.1 §3.2: one TD) to endpoint {@code ep} of device {@code addr} with data
     * toggle {@code toggle}: OUT of {@code out} (at most 1023 bytes, none for a zero-length packet), or,
     * when {@code out} is null, IN of up to {@code inLength} bytes. Returns the bytes moved (IN: those
     * that arrived, fewer on a short packet), or null on a STALL. A NAK keeps the TD active: the
     * controller retries each frame until the device answers (at most ~5 s). Any other error (CRC/time-out,
     * babble, data buffer, bit stuff: the device answered with none of ACK, NAK, STALL) is an
     * {@link IllegalStateException} naming the TD's status.
     */
    public byte[] bulk(int addr, int ep, int toggle, byte[] out, int inLength) {
        int length = out == null ? inLength : out.length;
        if (out != null) q.write(BUF + 0x100, out);
        else if (length > 0) q.write(BUF + 0x100, new byte[length]);
        int maxLen = length == 0 ? 0x7ff : length - 1;
        writeTd(TDS, -1, maxLen << 21 | toggle << 19 | ep << 15 | addr << 8 | (out == null ? 0x69 : 0xe1), BUF + 0x100);
        int status = run(TDS);
        if (status < 0) return null;
        if ((status & 0x360000) != 0) throw new IllegalStateException("UHCI bulk TD error, status " + Integer.toHexString(status));
        int actual = (status + 1) & 0x7ff; // ActLen is n-1, 0x7ff for none
        return out != null ? out.clone() : q.read(BUF + 0x100, actual);
    }

    /** Starts the TDs from {@link #TDS} to {@code last} and waits: the last TD's status word, or -1 on a STALL. */
    private int run(long last) {
        q.write(QH + 4, le((int) TDS)); // queue element → first TD
        for (int i = 0; i < 2500; i++) { // up to ~5 s
            sleep(2);
            int status = ByteBuffer.wrap(q.read(last + 4, 4)).order(ByteOrder.LITTLE_ENDIAN).getInt();
            if ((status & (ACTIVE | STALLED)) == 0) return status & 0x7fffffff;
            for (long t = TDS; t <= last; t += 32) {
                int s = ByteBuffer.wrap(q.read(t + 4, 4)).order(ByteOrder.LITTLE_ENDIAN).getInt();
                if ((s & STALLED) != 0) {
                    q.write(QH + 4, le(1));
                    return -1;
                }
            }
        }
        StringBuilder d = new StringBuilder();
        for (long t = TDS; t <= last; t += 32) d.append(HexFormat.of().formatHex(q.read(t, 16))).append(' ');
        throw new IllegalStateException("UHCI transfer did not complete: cmd " + Long.toHexString(q.in(IO, 2))
                + " sts " + Long.toHexString(q.in(IO + 2, 2)) + " frnum " + q.in(IO + 6, 2) + " port "
                + Long.toHexString(q.in(IO + 0x10, 2)) + " qh " + HexFormat.of().formatHex(q.read(QH, 8)) + " tds " + d);
    }

    /** Real time is virtual time here (TCG, halted vCPU): frames pass while the test waits. */
    private static void sleep(int ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private void writeTd(long at, long next, int token, long buffer) {
        int link = next < 0 ? 1 : (int) next | 4; // depth first
        q.write(at, le(link, ACTIVE | 3 << 27, token, (int) buffer));
    }

    public byte[] descriptor(int addr, int type, int index, int langId, int length) {
        return control(addr, 0x80, 6, type << 8 | index, langId, length);
    }

    @Override
    public void close() throws Exception {
        q.close();
    }
}
