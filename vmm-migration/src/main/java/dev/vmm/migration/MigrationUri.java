package dev.vmm.migration;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a migration goes or comes from, in QEMU's URI syntax: {@code tcp:HOST:PORT} (IPv6 hosts in
 * brackets, e.g. {@code tcp:[::1]:4444}) or {@code unix:PATH}.
 */
public sealed interface MigrationUri {
    record Tcp(String host, int port) implements MigrationUri {
        @Override
        public String toString() {
            return "tcp:" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
        }
    }

    record Unix(Path path) implements MigrationUri {
        @Override
        public String toString() { return "unix:" + path; }
    }

    /** @throws IllegalArgumentException with a message fit for QMP when {@code uri} is not usable */
    static MigrationUri parse(String uri) {
        if (uri == null || uri.isEmpty()) throw new IllegalArgumentException("migration URI is empty");
        if (uri.startsWith("unix:")) {
            String p = uri.substring(5);
            if (p.isEmpty()) throw new IllegalArgumentException("migration URI '" + uri + "' has no socket path");
            return new Unix(Path.of(p));
        }
        if (uri.startsWith("tcp:")) {
            String rest = uri.substring(4);
            String host;
            String port;
            if (rest.startsWith("[")) {
                int close = rest.indexOf(']');
                if (close < 0 || close + 1 >= rest.length() || rest.charAt(close + 1) != ':') {
                    throw new IllegalArgumentException("migration URI '" + uri + "' is not tcp:[HOST]:PORT");
                }
                host = rest.substring(1, close);
                port = rest.substring(close + 2);
            } else {
                int colon = rest.lastIndexOf(':');
                if (colon < 0) throw new IllegalArgumentException("migration URI '" + uri + "' is not tcp:HOST:PORT");
                host = rest.substring(0, colon);
                port = rest.substring(colon + 1);
            }
            int p;
            try {
                p = Integer.parseInt(port);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("migration URI '" + uri + "' has a bad port '" + port + "'");
            }
            if (p < 0 || p > 65535) throw new IllegalArgumentException("migration URI '" + uri + "' has a bad port " + p);
            return new Tcp(host.isEmpty() ? "0.0.0.0" : host, p);
        }
        int colon = uri.indexOf(':');
        String scheme = colon < 0 ? uri : uri.substring(0, colon);
        throw new IllegalArgumentException("migration URI scheme '" + scheme + "' is not supported (use tcp:HOST:PORT or unix:PATH)");
    }

    /** Opens a blocking connection to the destination. */
    default SocketChannel connect() throws IOException {
        return switch (this) {
            case Tcp t -> {
                SocketChannel ch = SocketChannel.open(new InetSocketAddress(t.host(), t.port()));
                ch.socket().setTcpNoDelay(true);
                yield ch;
            }
            case Unix u -> SocketChannel.open(UnixDomainSocketAddress.of(u.path()));
        };
    }

    /** Binds a listening socket (replacing a stale UNIX socket file); port 0 picks a free port. */
    default Listener listen() throws IOException {
        return switch (this) {
            case Tcp t -> {
                ServerSocketChannel s = ServerSocketChannel.open();
                s.bind(new InetSocketAddress(t.host(), t.port()), 1);
                InetSocketAddress a = (InetSocketAddress) s.getLocalAddress();
                yield new Listener(s, new Tcp(t.host(), a.getPort()), null);
            }
            case Unix u -> {
                Files.deleteIfExists(u.path());
                ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                s.bind(UnixDomainSocketAddress.of(u.path()), 1);
                yield new Listener(s, u, u.path());
            }
        };
    }

    /** A bound socket waiting for one migration (QEMU's {@code -incoming}). */
    final class Listener implements AutoCloseable {
        private final ServerSocketChannel server;
        private final MigrationUri uri;
        private final Path socketFile;

        Listener(ServerSocketChannel server, MigrationUri uri, Path socketFile) {
            this.server = server;
            this.uri = uri;
            this.socketFile = socketFile;
        }

        /** The address actually bound (with the real port when 0 was asked for). */
        public MigrationUri uri() { return uri; }

        /** Waits for the source; close the listener from another thread to give up. */
        public SocketChannel accept() throws IOException {
            SocketChannel ch = server.accept();
            if (uri instanceof Tcp) ch.socket().setTcpNoDelay(true);
            return ch;
        }

        @Override
        public void close() throws IOException {
            server.close();
            if (socketFile != null) Files.deleteIfExists(socketFile);
        }
    }
}
