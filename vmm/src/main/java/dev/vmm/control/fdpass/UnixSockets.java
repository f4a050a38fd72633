package dev.vmm.control.fdpass;

import dev.vmm.ffm.libc.Libc;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Unix stream sockets on raw file descriptors through syscall(2) (FFM, x86-64 numbers), for the
 * one thing Java's channels cannot do: receive file descriptors passed with SCM_RIGHTS, which QMP
 * clients (libvirt) send with {@code getfd}. A channel's read(2) would silently close them.
 */
public final class UnixSockets {
    private static final long SYS_SOCKET = 41, SYS_CONNECT = 42, SYS_SENDMSG = 46, SYS_RECVMSG = 47, SYS_SHUTDOWN = 48,
            SYS_BIND = 49, SYS_LISTEN = 50, SYS_ACCEPT4 = 288;
    private static final int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, SHUT_RDWR = 2;
    private static final int SOL_SOCKET = 1, SCM_RIGHTS = 1, MSG_CTRUNC = 0x8, MSG_CMSG_CLOEXEC = 0x40000000, MSG_NOSIGNAL = 0x4000;
    private static final int EINTR = 4;
    /** sizeof(struct sockaddr_un) and its path field. */
    private static final int SOCKADDR_UN = 110, SUN_PATH_MAX = 107;
    /** struct msghdr on x86-64: name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48. */
    private static final int MSGHDR = 56;
    /** Room for this many fds in one message (libvirt passes one per getfd; fds= taps pass several getfd). */
    public static final int MAX_FDS = 16;
    private static final int CMSG_HDR = 16, CMSG_SPACE = CMSG_HDR + 4 * MAX_FDS;

    private UnixSockets() {}

    /** A listening socket bound at {@code path} (which must not exist). */
    public static int listen(Path path) throws IOException {
        int fd = socket();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment addr = address(a, path);
            check(Libc.syscallRaw(SYS_BIND, fd, addr.address(), SOCKADDR_UN, 0, 0, 0), "bind " + path);
            check(Libc.syscallRaw(SYS_LISTEN, fd, 16, 0, 0, 0, 0), "listen " + path);
            return fd;
        } catch (IOException | RuntimeException e) {
            Libc.close(fd);
            throw e;
        }
    }

    /** A socket connected to {@code path}. */
    public static int connect(Path path) throws IOException {
        int fd = socket();
        try (Arena a = Arena.ofConfined()) {
            check(Libc.syscallRaw(SYS_CONNECT, fd, address(a, path).address(), SOCKADDR_UN, 0, 0, 0), "connect " + path);
            return fd;
        } catch (IOException | RuntimeException e) {
            Libc.close(fd);
            throw e;
        }
    }

    /** The next connection (blocking); an IOException once the socket was shut down. */
    public static int accept(int listenFd) throws IOException {
        while (true) {
            long r = Libc.syscallRaw(SYS_ACCEPT4, listenFd, 0, 0, SOCK_CLOEXEC, 0, 0);
            if (r != -EINTR) return (int) check(r, "accept");
        }
    }

    /** Wakes threads blocked in {@link #accept} or {@link #receive} on {@code fd} (they see end of stream / an error). */
    public static void shutdown(int fd) {
        Libc.syscallRaw(SYS_SHUTDOWN, fd, SHUT_RDWR, 0, 0, 0, 0);
    }

    /**
     * recvmsg(2): up to {@code buf.byteSize()} bytes into {@code buf}; file descriptors that came
     * with them (SCM_RIGHTS, close-on-exec) are added to {@code fds}. Returns the byte count, 0 at
     * end of stream. Descriptors the kernel had to drop (more than {@link #MAX_FDS}) are lost, as
     * the sender is told by nothing; that is logged by the caller through {@code truncated}.
     */
    public static long receive(int fd, MemorySegment buf, List<Integer> fds, boolean[] truncated) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment iov = a.allocate(16, 8);
            iov.set(ValueLayout.JAVA_LONG, 0, buf.address());
            iov.set(ValueLayout.JAVA_LONG, 8, buf.byteSize());
            MemorySegment control = a.allocate(CMSG_SPACE, 8);
            MemorySegment msg = a.allocate(MSGHDR, 8);
            msg.set(ValueLayout.JAVA_LONG, 16, iov.address());
            msg.set(ValueLayout.JAVA_LONG, 24, 1);
            msg.set(ValueLayout.JAVA_LONG, 32, control.address());
            msg.set(ValueLayout.JAVA_LONG, 40, CMSG_SPACE);
            long r;
            do {
                r = Libc.syscallRaw(SYS_RECVMSG, fd, msg.address(), MSG_CMSG_CLOEXEC, 0, 0, 0);
            } while (r == -EINTR);
            check(r, "recvmsg");
            long controlLen = msg.get(ValueLayout.JAVA_LONG, 40);
            if ((msg.get(ValueLayout.JAVA_INT, 48) & MSG_CTRUNC) != 0 && truncated != null) truncated[0] = true;
            // One SCM_RIGHTS message at most here (the space holds one); walk defensively anyway.
            long at = 0;
            while (at + CMSG_HDR <= controlLen) {
                long len = control.get(ValueLayout.JAVA_LONG, at);
                if (len < CMSG_HDR || at + len > controlLen) break;
                if (control.get(ValueLayout.JAVA_INT, at + 8) == SOL_SOCKET && control.get(ValueLayout.JAVA_INT, at + 12) == SCM_RIGHTS) {
                    for (long o = CMSG_HDR; o + 4 <= len; o += 4) fds.add(control.get(ValueLayout.JAVA_INT, at + o));
                }
                at += (len + 7) & ~7L;
            }
            return r;
        }
    }

    /** sendmsg(2) of all of {@code bytes} with {@code fds} attached to the first part (a client, e.g. a test). */
    public static void send(int fd, byte[] bytes, int... fds) throws IOException {
        if (fds.length > MAX_FDS) throw new IllegalArgumentException("at most " + MAX_FDS + " fds");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment data = a.allocate(Math.max(1, bytes.length));
            MemorySegment.copy(bytes, 0, data, ValueLayout.JAVA_BYTE, 0, bytes.length);
            MemorySegment iov = a.allocate(16, 8);
            MemorySegment msg = a.allocate(MSGHDR, 8);
            MemorySegment control = a.allocate(CMSG_SPACE, 8);
            long sent = 0;
            while (sent < bytes.length) {
                msg.fill((byte) 0);
                iov.set(ValueLayout.JAVA_LONG, 0, data.address() + sent);
                iov.set(ValueLayout.JAVA_LONG, 8, bytes.length - sent);
                msg.set(ValueLayout.JAVA_LONG, 16, iov.address());
                msg.set(ValueLayout.JAVA_LONG, 24, 1);
                if (sent == 0 && fds.length > 0) {
                    long len = CMSG_HDR + 4L * fds.length;
                    control.set(ValueLayout.JAVA_LONG, 0, len);
                    control.set(ValueLayout.JAVA_INT, 8, SOL_SOCKET);
                    control.set(ValueLayout.JAVA_INT, 12, SCM_RIGHTS);
                    for (int i = 0; i < fds.length; i++) control.set(ValueLayout.JAVA_INT, CMSG_HDR + 4L * i, fds[i]);
                    msg.set(ValueLayout.JAVA_LONG, 32, control.address());
                    msg.set(ValueLayout.JAVA_LONG, 40, (len + 7) & ~7L);
                }
                long r = Libc.syscallRaw(SYS_SENDMSG, fd, msg.address(), MSG_NOSIGNAL, 0, 0, 0);
                if (r == -EINTR) continue;
                sent += check(r, "sendmsg");
            }
        }
    }

    /**
     * write(2) of all of {@code bytes}: plain write, which every thread's sandbox filter allows (QMP
     * events are sent from vCPU, I/O and migration threads too). The JVM ignores SIGPIPE.
     */
    public static void write(int fd, byte[] bytes) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment data = a.allocate(Math.max(1, bytes.length));
            MemorySegment.copy(bytes, 0, data, ValueLayout.JAVA_BYTE, 0, bytes.length);
            long done = 0;
            while (done < bytes.length) {
                long r = Libc.writeRaw(fd, data.asSlice(done), bytes.length - done);
                if (r == -EINTR) continue;
                done += check(r, "write");
            }
        }
    }

    private static int socket() throws IOException {
        return (int) check(Libc.syscallRaw(SYS_SOCKET, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, 0, 0, 0), "socket");
    }

    private static MemorySegment address(Arena a, Path path) throws IOException {
        byte[] p = path.toString().getBytes(StandardCharsets.UTF_8);
        if (p.length > SUN_PATH_MAX) throw new IOException("socket path too long (" + p.length + " bytes, at most " + SUN_PATH_MAX + "): " + path);
        MemorySegment addr = a.allocate(SOCKADDR_UN, 8);
        addr.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(p, 0, addr, ValueLayout.JAVA_BYTE, 2, p.length);
        return addr;
    }

    private static long check(long r, String what) throws IOException {
        if (r < 0) throw new IOException(what + ": " + Libc.strerror((int) -r));
        return r;
    }

    /** Closes each of {@code fds} (fds received and never claimed). */
    public static void closeAll(List<Integer> fds) {
        for (int fd : new ArrayList<>(fds)) Libc.close(fd);
        fds.clear();
    }
}
