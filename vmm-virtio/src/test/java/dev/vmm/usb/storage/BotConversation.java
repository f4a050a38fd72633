package dev.vmm.usb.storage;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * A host driver's side of Bulk-Only Transport (BOT 1.0 §5.3) over a {@link BotWire}, written down
 * as a transcript of what the driver saw: the CBW accepted or stalled, each data packet (its length,
 * and its bytes where the test asks), each stall, the CSW's bytes. Packets are of the full-speed
 * bulk size, 64 bytes, so both ends of a comparison see the same packets.
 */
final class BotConversation {
    static final int PACKET = 64;
    private final BotWire wire;
    final List<String> transcript = new ArrayList<>();
    /** The data-in bytes of the last command (all packets). */
    byte[] lastDataIn = new byte[0];

    BotConversation(BotWire wire) {
        this.wire = wire;
    }

    /**
     * One command: CBW, data stage (IN of {@code length} bytes when {@code out} is null, else the OUT
     * bytes), CSW. The transcript gets the CBW's handshake, any stall, the CSW's 13 bytes and, with
     * {@code showData}, the relevant data-in bytes: the first dCBWDataTransferLength - dCSWDataResidue
     * (§5.2). How a device ends a shorter data-in stage is not written down: §6.7.2 lets it send a
     * short packet or pad up to the host's length (QEMU pads, ours sends a short packet), and both
     * tell the host the same through the residue. A stall in the data stage is cleared
     * (CLEAR_FEATURE(ENDPOINT_HALT)) and the host goes on to the CSW (§6.7.2, §6.7.3); a stalled CSW
     * is cleared and read once more (§5.3.3).
     */
    void command(String what, int tag, int lun, byte[] cdb, long length, byte[] out, boolean showData) {
        boolean in = out == null;
        boolean accepted = wire.out(BotHost.cbw(tag, length, in, lun, cdb));
        transcript.add(what + ": CBW " + (accepted ? "accepted" : "STALL"));
        if (!accepted) return;
        java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
        if (in) {
            long left = length;
            while (left > 0) {
                byte[] p = wire.in((int) Math.min(PACKET, left));
                if (p == null) {
                    transcript.add(what + ": data-in STALL after " + got.size() + " bytes; clear halt "
                            + wire.control(0x02, 1, 0, 0x81));
                    break;
                }
                got.writeBytes(p);
                left -= p.length;
                if (p.length < PACKET) break; // a short packet ends the data stage
            }
        } else {
            for (int at = 0; at < out.length; at += PACKET) {
                byte[] p = java.util.Arrays.copyOfRange(out, at, Math.min(out.length, at + PACKET));
                if (!wire.out(p)) {
                    transcript.add(what + ": data-out STALL at " + at + "; clear halt " + wire.control(0x02, 1, 0, 0x02));
                    break;
                }
            }
        }
        lastDataIn = got.toByteArray();
        byte[] csw = csw(what);
        if (showData && csw != null) {
            long residue = java.nio.ByteBuffer.wrap(csw, 8, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt() & 0xffffffffL;
            int relevant = (int) Math.max(0, Math.min(lastDataIn.length, length - residue));
            transcript.add(what + ": relevant data-in " + HexFormat.of().formatHex(lastDataIn, 0, relevant));
        }
    }

    /** Reads the CSW into the transcript; returns its bytes (null when none came). */
    private byte[] csw(String what) {
        byte[] s = wire.in(13);
        String line = s == null ? "STALL" : HexFormat.of().formatHex(s);
        if (s == null) {
            boolean cleared = wire.control(0x02, 1, 0, 0x81);
            s = wire.in(13);
            line += ", cleared " + cleared + ", then " + (s == null ? "STALL" : HexFormat.of().formatHex(s));
        }
        transcript.add(what + ": CSW " + line);
        return s != null && s.length == 13 ? s : null;
    }

    /** Raw packets, for the error cases: an OUT packet's handshake. */
    void outPacket(String what, byte[] packet) {
        transcript.add(what + ": OUT " + packet.length + " bytes " + (wire.out(packet) ? "accepted" : "STALL"));
    }

    /** An IN packet: its bytes, STALL, or a failed transaction. */
    void inPacket(String what, int maxLength) {
        String got;
        try {
            byte[] p = wire.in(maxLength);
            got = p == null ? "STALL" : HexFormat.of().formatHex(p);
        } catch (IllegalStateException e) {
            got = "transaction error";
        }
        transcript.add(what + ": IN " + got);
    }

    /** A standard or class request without data: accepted or STALL. */
    void control(String what, int requestType, int request, int value, int index) {
        transcript.add(what + ": " + (wire.control(requestType, request, value, index) ? "accepted" : "STALL"));
    }

    /** Reset recovery (§5.3.4): Bulk-Only Mass Storage Reset, CLEAR_FEATURE(ENDPOINT_HALT) on IN, then OUT. */
    void resetRecovery(String what) {
        transcript.add(what + ": reset " + wire.control(0x21, UsbStorage.BULK_ONLY_RESET, 0, 0)
                + ", clear IN " + wire.control(0x02, 1, 0, 0x81) + ", clear OUT " + wire.control(0x02, 1, 0, 0x02));
    }
}
