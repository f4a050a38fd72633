package dev.vmm.block.nbd;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static dev.vmm.block.nbd.FakeNbdServer.*;
import static dev.vmm.block.nbd.NbdConstants.*;

/**
 * A small correct NBD server (written from proto.md's layouts, not with our server) that records
 * every request it receives and whose export properties can be set per test: transmission flags,
 * the NBD_INFO_BLOCK_SIZE maximum, structured replies, a base:allocation context and its extents,
 * an errno for the next request, a connection dropped at the n-th request. Connections are served
 * one after the other (a reconnecting client gets the next).
 */
final class RecordingNbdServer implements AutoCloseable {
    /** One request as received: type, flags, offset, length, and the connection number. */
    record Request(int type, int flags, long offset, long length, int connection) {}

    final byte[] disk;
    final List<Request> requests = new CopyOnWriteArrayList<>();
    volatile int flags = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES;
    volatile int maxPayload;            // 0: no NBD_INFO_BLOCK_SIZE
    volatile boolean structured = true;
    volatile int contextId = -1;        // base:allocation's id; -1: no context offered
    volatile long[] extents = {};       // {length, flags} pairs sent for every BLOCK_STATUS
    volatile int failErrno;             // answer the next request with this errno (once)
    volatile int dropAt = -1;           // close the connection when this request number (0-based, overall) arrives
    volatile long advertisedSize = -1;  // -1: the disk's size
    private final ServerSocketChannel listener;
    final Path socket;
    private final Thread thread;
    private int connections;

    RecordingNbdServer(Path socket, int size) throws IOException {
        this.disk = new byte[size];
        this.socket = socket;
        listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listener.bind(UnixDomainSocketAddress.of(socket));
        thread = Thread.ofPlatform().daemon().name("recording-nbd").start(() -> {
            while (listener.isOpen()) {
                try (SocketChannel c = listener.accept()) {
                    serve(c, connections++);
                } catch (Exception ignored) {
                    // the client went away, or the listener closed: next connection or the end
                }
            }
        });
    }

    NbdUri uri(String query) { return NbdUri.parse("nbd+unix:///?socket=" + socket + (query.isEmpty() ? "" : "&" + query)); }

    List<Request> requestsOf(int type) { return requests.stream().filter(r -> r.type() == type).toList(); }

    private void serve(SocketChannel c, int connection) throws IOException {
        greet(c);
        boolean structuredOn = false;
        negotiation:
        while (true) {
            int opt = nextOption(c);
            switch (opt) {
                case OPT_STRUCTURED_REPLY -> {
                    structuredOn = structured;
                    optionReply(c, opt, structured ? REP_ACK : REP_ERR_UNSUP, new byte[0]);
                }
                case OPT_SET_META_CONTEXT -> {
                    if (contextId >= 0) {
                        byte[] name = BASE_ALLOCATION.getBytes();
                        optionReply(c, opt, REP_META_CONTEXT, ByteBuffer.allocate(4 + name.length).putInt(contextId).put(name).array());
                    }
                    optionReply(c, opt, REP_ACK, new byte[0]);
                }
                case OPT_GO -> {
                    long size = advertisedSize >= 0 ? advertisedSize : disk.length;
                    optionReply(c, opt, REP_INFO, ByteBuffer.allocate(12).putShort((short) INFO_EXPORT).putLong(size).putShort((short) flags).array());
                    if (maxPayload > 0) {
                        optionReply(c, opt, REP_INFO, ByteBuffer.allocate(14).putShort((short) INFO_BLOCK_SIZE).putInt(1).putInt(1).putInt(maxPayload).array());
                    }
                    optionReply(c, opt, REP_ACK, new byte[0]);
                    break negotiation;
                }
                default -> optionReply(c, opt, REP_ERR_UNSUP, new byte[0]);
            }
        }
        while (true) {
            ByteBuffer r = read(c, 28);
            r.getInt();
            int rflags = r.getShort(), type = r.getShort();
            long cookie = r.getLong(), offset = r.getLong(), length = Integer.toUnsignedLong(r.getInt());
            byte[] payload = type == CMD_WRITE ? read(c, (int) length).array() : null;
            if (dropAt == requests.size()) {
                dropAt = -1;
                return; // closes the connection without a reply
            }
            requests.add(new Request(type, rflags, offset, length, connection));
            if (type == CMD_DISC) return;
            if (failErrno != 0) {
                int e = failErrno;
                failErrno = 0;
                send(c, ByteBuffer.allocate(16).putInt(SIMPLE_REPLY_MAGIC).putInt(e).putLong(cookie));
                continue;
            }
            switch (type) {
                case CMD_READ -> {
                    byte[] d;
                    synchronized (disk) { d = Arrays.copyOfRange(disk, (int) offset, (int) (offset + length)); }
                    if (structuredOn) send(c, chunk(REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, cookie, 8 + d.length).putLong(offset).put(d));
                    else send(c, ByteBuffer.allocate(16 + d.length).putInt(SIMPLE_REPLY_MAGIC).putInt(0).putLong(cookie).put(d));
                    continue;
                }
                case CMD_WRITE -> { synchronized (disk) { System.arraycopy(payload, 0, disk, (int) offset, payload.length); } }
                case CMD_TRIM, CMD_WRITE_ZEROES -> {
                    // The advertised size may exceed the array (to test large ranges): zero what exists.
                    synchronized (disk) { Arrays.fill(disk, (int) Math.min(offset, disk.length), (int) Math.min(offset + length, disk.length), (byte) 0); }
                }
                case CMD_BLOCK_STATUS -> {
                    long[] e = extents;
                    ByteBuffer b = chunk(REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, cookie, 4 + 4 * e.length).putInt(contextId);
                    for (long v : e) b.putInt((int) v);
                    send(c, b);
                    continue;
                }
                default -> { /* FLUSH, CACHE: nothing to do */ }
            }
            send(c, ByteBuffer.allocate(16).putInt(SIMPLE_REPLY_MAGIC).putInt(0).putLong(cookie));
        }
    }

    @Override
    public void close() throws Exception {
        listener.close();
        thread.join(5000);
        Files.deleteIfExists(socket);
    }
}
