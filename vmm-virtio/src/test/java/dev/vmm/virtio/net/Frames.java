package dev.vmm.virtio.net;

import java.nio.ByteBuffer;

/** Ethernet/ARP/IPv4/ICMP frames for the tests (big-endian network order). */
final class Frames {
    private Frames() { }

    static byte[] ip(String dotted) {
        String[] p = dotted.split("\\.");
        return new byte[] {(byte) Integer.parseInt(p[0]), (byte) Integer.parseInt(p[1]), (byte) Integer.parseInt(p[2]), (byte) Integer.parseInt(p[3])};
    }

    static byte[] arpRequest(MacAddress src, byte[] srcIp, byte[] targetIp) {
        ByteBuffer b = ByteBuffer.allocate(42);
        b.put(new MacAddress(0xFFFF_FFFF_FFFFL).bytes()).put(src.bytes()).putShort((short) 0x0806);
        b.putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4).putShort((short) 1);
        b.put(src.bytes()).put(srcIp).put(new byte[6]).put(targetIp);
        return b.array();
    }

    /** The sender MAC of an ARP reply, or null if {@code f} is not an ARP reply for {@code ip}. */
    static MacAddress arpReplyFrom(byte[] f, byte[] ip) {
        if (f.length < 42 || (f[12] & 0xFF) != 0x08 || (f[13] & 0xFF) != 0x06 || f[21] != 2) return null;
        for (int i = 0; i < 4; i++) if (f[28 + i] != ip[i]) return null;
        return MacAddress.of(f, 22);
    }

    static byte[] icmpEcho(MacAddress dst, MacAddress src, byte[] srcIp, byte[] dstIp, int id, int seq, byte[] payload) {
        int icmpLen = 8 + payload.length;
        ByteBuffer b = ByteBuffer.allocate(14 + 20 + icmpLen);
        b.put(dst.bytes()).put(src.bytes()).putShort((short) 0x0800);
        int ipAt = b.position();
        b.put((byte) 0x45).put((byte) 0).putShort((short) (20 + icmpLen)).putShort((short) seq).putShort((short) 0x4000)
                .put((byte) 64).put((byte) 1).putShort((short) 0).put(srcIp).put(dstIp);
        b.putShort(ipAt + 10, (short) checksum(b.array(), ipAt, 20));
        int icmpAt = b.position();
        b.put((byte) 8).put((byte) 0).putShort((short) 0).putShort((short) id).putShort((short) seq).put(payload);
        b.putShort(icmpAt + 2, (short) checksum(b.array(), icmpAt, icmpLen));
        return b.array();
    }

    /** Whether {@code f} is an ICMP echo reply with this id/seq/payload and valid IP and ICMP checksums. */
    static boolean isEchoReply(byte[] f, MacAddress dst, int id, int seq, byte[] payload) {
        if (f.length < 14 + 20 + 8 + payload.length || (f[12] & 0xFF) != 0x08 || f[13] != 0) return false;
        if (MacAddress.of(f, 0).value() != dst.value() || f[14 + 9] != 1) return false;
        int ihl = (f[14] & 0xF) * 4;
        int icmp = 14 + ihl;
        if (f[icmp] != 0 || checksum(f, 14, ihl) != 0) return false;
        ByteBuffer b = ByteBuffer.wrap(f);
        if ((b.getShort(icmp + 4) & 0xFFFF) != id || (b.getShort(icmp + 6) & 0xFFFF) != seq) return false;
        int icmpLen = (b.getShort(16) & 0xFFFF) - ihl;
        if (checksum(f, icmp, icmpLen) != 0) return false;
        for (int i = 0; i < payload.length; i++) if (f[icmp + 8 + i] != payload[i]) return false;
        return true;
    }

    static int checksum(byte[] d, int off, int len) {
        long sum = 0;
        for (int i = 0; i + 1 < len; i += 2) sum += ((d[off + i] & 0xFF) << 8) | (d[off + i + 1] & 0xFF);
        if ((len & 1) != 0) sum += (d[off + len - 1] & 0xFF) << 8;
        while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (int) (~sum & 0xFFFF);
    }
}
