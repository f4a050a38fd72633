package dev.vmm.virtio.console;

import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.testing.Blocked;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static dev.vmm.virtio.console.ConsoleControl.*;
import static dev.vmm.virtio.console.ConsoleControl.Event.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class VirtioConsoleTest {
    @TempDir Path tmp;
    RecordingBackend console = new RecordingBackend(true);
    VirtioConsole device = new VirtioConsole(4, 80, 25, console);
    ConsoleGuest guest = new ConsoleGuest(device);

    @AfterEach
    void tearDown() {
        assertThat(guest.rings.guardsIntact()).isTrue();
        guest.close();
    }

    static String s(byte[] b) { return new String(b, StandardCharsets.UTF_8); }

    static byte[] b(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    @Test
    void identityAndConfigSpace() {
        assertThat(device.deviceType()).isEqualTo(VirtioDeviceType.CONSOLE);
        assertThat(device.queueCount()).isEqualTo(10);
        assertThat(VirtioFeatures.has(device.deviceFeatures(),
                VirtioFeatures.VIRTIO_F_VERSION_1 | VirtioConsole.VIRTIO_CONSOLE_F_MULTIPORT | VirtioConsole.VIRTIO_CONSOLE_F_SIZE)).isTrue();
        assertThat(device.readConfig(0, 2)).isEqualTo(80);
        assertThat(device.readConfig(2, 2)).isEqualTo(25);
        assertThat(device.readConfig(0, 4)).isEqualTo(80 | (25 << 16));
        assertThat(device.readConfig(4, 4)).isEqualTo(4);
        assertThat(device.readConfig(10, 4)).isZero();          // past the end
        assertThat(device.readConfig(-1, 4)).isZero();
        assertThatThrownBy(() -> new VirtioConsole(0, null)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new VirtioConsole(32, null)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void linuxStyleHandshakeAnnouncesConsoleAndNamedPorts() throws Exception {
        RecordingBackend agent = new RecordingBackend(true);
        int id = device.addPort("org.qemu.guest_agent.0", agent);
        assertThat(id).isEqualTo(1);

        List<ConsoleGuest.Msg> msgs = guest.handshake();

        assertThat(msgs).extracting(ConsoleGuest.Msg::toString).containsExactly(
                "DEVICE_ADD(0,1)", "DEVICE_ADD(1,1)",
                "CONSOLE_PORT(0,1)", "RESIZE(0,0,25 rows 80 cols)",
                "PORT_OPEN(0,1)",
                "PORT_NAME(1,1,org.qemu.guest_agent.0)", "PORT_OPEN(1,1)");
        assertThat(guest.consolePorts).containsExactly(0);
        assertThat(guest.names).containsEntry(1, "org.qemu.guest_agent.0");
        assertThat(guest.hostOpen).containsEntry(0, true).containsEntry(1, true);
        assertThat(console.guestOpenEvents).containsExactly(true);    // the guest opened hvc0
        assertThat(device.ports()).containsExactly(
                new VirtioConsole.PortStatus(0, null, true, true, true, true),
                new VirtioConsole.PortStatus(1, "org.qemu.guest_agent.0", false, true, false, true));
        assertThat(guest.irq.needsReset()).isEmpty();
    }

    @Test
    void guestOutputReachesBackend() throws Exception {
        guest.handshake();
        guest.write(0, b("hello "));
        guest.write(0, b("world\n"));
        assertThat(console.text()).isEqualTo("hello world\n");
        assertThat(guest.drivers[1].pollUsed()).isNotNull();
        assertThat(guest.drivers[1].pollUsed()).isNotNull();
        assertThat(guest.irq.used).contains(1);
    }

    @Test
    void backendInputReachesGuestReceiveBuffers() throws Exception {
        guest.handshake();
        assertThat(console.handle.receive(b("ls -l\n"), 0, 6)).isTrue();
        assertThat(s(guest.readUsed(0))).isEqualTo("ls -l\n");
        // Larger than one 64-byte buffer: spread over the posted buffers, in order.
        byte[] big = new byte[150];
        for (int i = 0; i < big.length; i++) big[i] = (byte) ('a' + i % 26);
        console.handle.receive(big, 0, big.length);
        assertThat(guest.readUsed(0)).isEqualTo(big);
    }

    @Test
    void inputWaitsForReceiveBuffersAndForTheGuestToOpenThePort() throws Exception {
        RecordingBackend port = new RecordingBackend(true);
        int id = device.addPort("data", port);
        guest.handshake();                                  // posts 4 rx buffers, but the guest has not opened the port
        port.handle.receive(b("early"), 0, 5);
        assertThat(guest.readUsed(ConsoleGuest.rx(id))).isEmpty();
        guest.sendControl(id, PORT_OPEN, 1);                // guest opens /dev/vport0p1
        assertThat(s(guest.readUsed(ConsoleGuest.rx(id)))).isEqualTo("early");
        assertThat(port.guestOpenEvents).containsExactly(true);

        // Use up the posted buffers, then more input stays queued until the guest posts again.
        port.handle.receive(new byte[64 * 3], 0, 64 * 3);
        assertThat(guest.readUsed(ConsoleGuest.rx(id))).hasSize(64 * 3);
        port.handle.receive(b("later"), 0, 5);
        assertThat(guest.readUsed(ConsoleGuest.rx(id))).isEmpty();
        guest.post(ConsoleGuest.rx(id), 1, 64);
        guest.device.queueNotify(ConsoleGuest.rx(id));
        assertThat(s(guest.readUsed(ConsoleGuest.rx(id)))).isEqualTo("later");
    }

    @Test
    @Timeout(10)
    void receiveBlocksWhenGuestHasNoBuffersUntilItPostsSome() throws Exception {
        guest.activateMultiport();
        // No handshake: the console is not open, so input accumulates up to the limit.
        byte[] chunk = new byte[VirtioConsole.INPUT_LIMIT];
        assertThat(console.handle.receive(chunk, 0, chunk.length)).isTrue();
        AtomicBoolean done = new AtomicBoolean();
        CountDownLatch started = new CountDownLatch(1);
        Thread producer = new Thread(() -> {
            started.countDown();
            try {
                console.handle.receive(b("x"), 0, 1);
                done.set(true);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        producer.start();
        started.await();
        // The producer has reached the back-pressure wait inside receive(): only now does "not done" mean anything.
        Blocked.awaitParkedIn(producer, VirtioConsole.class.getName(), "receive", 5000);
        assertThat(done).isFalse();                         // back-pressure
        // The guest comes up, opens hvc0 and posts enough buffers (4 x 64 KiB + the 4 from the handshake).
        guest.post(0, 1, VirtioConsole.INPUT_LIMIT);
        guest.post(2, 8, 128);
        guest.sendControl(0, DEVICE_READY, 1);
        guest.runDriver();
        producer.join(5000);
        assertThat(done).isTrue();
        // The guest eventually gets every byte: 64 KiB + 1.
        int total = guest.readUsed(0).length;
        assertThat(total).isEqualTo(VirtioConsole.INPUT_LIMIT + 1);
    }

    @Test
    void hotAddAfterDriverOkSendsDeviceAddThenName() throws Exception {
        guest.handshake();
        guest.received.clear();
        UnixSocketBackend sock = new UnixSocketBackend(tmp.resolve("p.sock"));
        int id = device.addPort("org.example.ctl", sock);
        List<ConsoleGuest.Msg> first = guest.control();
        assertThat(first).extracting(ConsoleGuest.Msg::toString).containsExactly("DEVICE_ADD(" + id + ",1)");
        guest.post(ConsoleGuest.rx(id), 4, 64);
        guest.sendControl(id, PORT_READY, 1);
        assertThat(guest.control()).extracting(ConsoleGuest.Msg::toString).containsExactly("PORT_NAME(" + id + ",1,org.example.ctl)");
    }

    @Test
    void controlMessagesWaitForControlBuffers() throws Exception {
        guest.activateMultiport();
        guest.sendControl(0, DEVICE_READY, 1);              // no control receive buffers posted yet
        device.addPort("late", new RecordingBackend(false));
        assertThat(guest.control()).isEmpty();
        guest.post(2, 1, 128);
        device.queueNotify(2);
        // One buffer, one message; the next goes out when the guest re-posts (control() does).
        assertThat(guest.control()).extracting(ConsoleGuest.Msg::toString).containsExactly("DEVICE_ADD(0,1)");
        assertThat(guest.control()).extracting(ConsoleGuest.Msg::toString).containsExactly("DEVICE_ADD(1,1)");
    }

    @Test
    @Timeout(20)
    void unixSocketClientExchangesBytesWithGuestPort() throws Exception {
        Path path = tmp.resolve("vport.sock");
        int id = device.addPort("org.example.sock", new UnixSocketBackend(path));
        guest.handshake();
        assertThat(guest.hostOpen).doesNotContainKey(id);   // no client yet
        guest.sendControl(id, PORT_OPEN, 1);                // guest program opens the port

        try (var client = java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(path))) {
            awaitTrue(() -> {
                guest.runDriver();
                return Boolean.TRUE.equals(guest.hostOpen.get(id));
            });
            client.write(java.nio.ByteBuffer.wrap(b("ping from host")));
            StringBuilder got = new StringBuilder();
            awaitTrue(() -> got.append(s(guest.readUsed(ConsoleGuest.rx(id)))).toString().equals("ping from host"));

            guest.write(id, b("pong from guest"));
            java.nio.ByteBuffer in = java.nio.ByteBuffer.allocate(64);
            while (in.position() < 15) client.read(in);
            assertThat(s(java.util.Arrays.copyOf(in.array(), in.position()))).isEqualTo("pong from guest");
        }
        // Client gone: the guest is told the host side closed.
        awaitTrue(() -> {
            guest.runDriver();
            return Boolean.FALSE.equals(guest.hostOpen.get(id));
        });
    }

    @Test
    void removePortSendsRemoveAndClosesBackend() throws Exception {
        RecordingBackend port = new RecordingBackend(true);
        int id = device.addPort("gone", port);
        guest.handshake();
        assertThat(device.removePort(id)).isTrue();
        guest.runDriver();
        assertThat(guest.removed).containsExactly(id);
        assertThat(port.closed).isTrue();
        assertThat(port.handle.receive(b("x"), 0, 1)).isFalse();
        assertThat(device.removePort(id)).isFalse();
        assertThat(device.removePort(0)).isFalse();          // the console stays
        assertThat(device.ports()).extracting(VirtioConsole.PortStatus::id).containsExactly(0);
        // The id is free again.
        assertThat(device.addPort("again", new RecordingBackend(false))).isEqualTo(id);
    }

    @Test
    void portSlotsAreLimited() {
        device.addPort("a", null);
        device.addPort("b", null);
        device.addPort("c", null);
        assertThatThrownBy(() -> device.addPort("d", null)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void shortBackendWriteHoldsGuestBufferUntilOutputReady() throws Exception {
        guest.handshake();
        console.acceptLimit = 3;
        int head = guest.write(0, b("abcdef"));
        assertThat(console.text()).isEqualTo("abc");
        assertThat(guest.drivers[1].pollUsed()).isNull();   // guest buffer still held
        guest.write(0, b("gh"));                            // queued behind it
        assertThat(console.text()).isEqualTo("abc");
        console.acceptLimit = 100;
        console.handle.outputReady();
        assertThat(console.text()).isEqualTo("abcdefgh");
        assertThat(guest.drivers[1].pollUsed().id()).isEqualTo(head);
        assertThat(guest.drivers[1].pollUsed()).isNotNull();
    }

    @Test
    void withoutMultiportPortZeroWorksOnItsOwnQueues() throws Exception {
        guest.activate(VirtioFeatures.VIRTIO_F_VERSION_1);
        guest.post(0, 2, 64);
        console.handle.receive(b("in"), 0, 2);
        device.queueNotify(0);
        assertThat(s(guest.readUsed(0))).isEqualTo("in");
        guest.write(0, b("out"));
        assertThat(console.text()).isEqualTo("out");
        device.resize(100, 40);
        assertThat(guest.irq.configChanges).isEqualTo(1);
        assertThat(device.readConfig(0, 4)).isEqualTo(100 | (40 << 16));
    }

    @Test
    void resizeSendsResizeMessageForTheConsole() throws Exception {
        guest.handshake();
        device.resize(132, 50);
        List<ConsoleGuest.Msg> m = guest.control();
        assertThat(m).hasSize(1);
        assertThat(m.get(0).event()).isEqualTo(RESIZE.code());
        assertThat(m.get(0).extra()).containsExactly(50, 0, (byte) 132, 0);   // rows, cols (Linux's order)
    }

    @Test
    void writableTransmitBufferNeedsReset() throws Exception {
        guest.handshake();
        long a = guest.rings.alloc(16, 8);
        guest.drivers[1].addWritable(a, 16);
        device.queueNotify(1);
        assertThat(guest.irq.needsReset()).singleElement().asString().contains("device-writable");
        guest.write(0, b("ignored"));
        assertThat(console.text()).isEmpty();
    }

    @Test
    void readableReceiveBufferNeedsReset() throws Exception {
        guest.handshake();
        long a = guest.rings.alloc(16, 8);
        guest.drivers[0].addReadable(a, 16);                // after the 4 good 64-byte buffers of the handshake
        console.handle.receive(new byte[4 * 64 + 1], 0, 4 * 64 + 1);
        assertThat(guest.irq.needsReset()).singleElement().asString().contains("device-readable");
    }

    @Test
    void malformedControlMessagesAreIgnored() throws Exception {
        guest.handshake();
        long a = guest.rings.alloc(4, 8);
        guest.drivers[3].addReadable(a, 4);                 // short
        device.queueNotify(3);
        guest.sendControl(99, PORT_OPEN, 1);                // unknown port
        guest.sendControl(0, 1234, 1);                      // unknown event
        assertThat(guest.irq.needsReset()).isEmpty();
        assertThat(guest.drivers[3].usedIdx()).isGreaterThanOrEqualTo(3);
    }

    @Test
    void resetThenReactivateRunsTheHandshakeAgain() throws Exception {
        guest.handshake();
        device.reset();
        ConsoleGuest again = new ConsoleGuest(device);
        try {
            List<ConsoleGuest.Msg> msgs = again.handshake();
            assertThat(msgs).extracting(ConsoleGuest.Msg::event).contains(DEVICE_ADD.code(), CONSOLE_PORT.code(), PORT_OPEN.code());
        } finally {
            again.rings.close();
        }
    }

    @Test
    void fileBackendAppendsOutput() throws Exception {
        Path log = tmp.resolve("port.log");
        Files.writeString(log, "old\n");
        int id = device.addPort("log", new FileBackend(log));
        guest.handshake();
        assertThat(guest.hostOpen).containsEntry(id, true);
        guest.write(id, b("new\n"));
        assertThat(Files.readString(log)).isEqualTo("old\nnew\n");
    }

    @Test
    void emergencyWriteGoesToTheConsole() {
        device.writeConfig(8, 4, 'Z');
        assertThat(console.text()).isEqualTo("Z");
    }

    interface Check { boolean ok() throws Exception; }

    static void awaitTrue(Check c) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!c.ok()) {
            if (System.nanoTime() > deadline) throw new AssertionError("condition not met in 10 s");
            Thread.sleep(5);
        }
    }
}
