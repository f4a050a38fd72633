package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.devices.UsbBus;
import dev.vmm.devices.UsbDeviceDriver;
import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbDeviceSink;
import dev.vmm.usb.UsbSpeed;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * QMP hot-plug of usb-storage, usb-tablet and usb-kbd through {@link DeviceDrivers} into a fake
 * root hub (4 USB 2 + 4 USB 3 ports, unplug finished when the test says so); without a controller
 * the errors are compared with QEMU 7.2 {@code -machine none} (no USB bus) at test time.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class UsbDeviceDriverTest {
    @TempDir
    Path dir;
    private QmpPair pair;

    @AfterEach
    void stop() throws Exception {
        if (pair != null) pair.close();
    }

    /** A root hub: USB 2 ports 1-4, USB 3 ports 5-8; unplugs complete when released. */
    static final class FakeHub implements UsbDeviceSink {
        final Map<Integer, UsbDevice> ports = new ConcurrentHashMap<>();
        final Map<UsbDevice, CompletableFuture<Void>> unplugging = new ConcurrentHashMap<>();

        @Override
        public synchronized int plug(UsbDevice d) {
            int first = d.speed().superSpeed() ? 5 : 1;
            for (int p = first; p < first + 4; p++) {
                if (!ports.containsKey(p)) {
                    ports.put(p, d);
                    d.attach(new dev.vmm.usb.UsbPort() {
                        public int number() { return 1; }
                        public void wakeup(int endpoint) { }
                    });
                    return p;
                }
            }
            throw new IllegalStateException("no free USB " + (d.speed().superSpeed() ? "3" : "2") + " port");
        }

        @Override
        public CompletableFuture<Void> unplug(UsbDevice d) {
            CompletableFuture<Void> f = new CompletableFuture<>();
            unplugging.put(d, f);
            return f.thenRun(() -> {
                d.detach();
                ports.values().remove(d);
            });
        }
    }

    @Test
    void withoutAControllerErrorsAreQemus() throws IOException {
        pair = new QmpPair(dir, s -> DeviceDrivers.install(s).register(new UsbDeviceDriver(new UsbBus())));
        QmpPair.Client q = pair.qemu.negotiated(), o = pair.ours.negotiated();
        for (String args : List.of("{\"driver\":\"usb-tablet\",\"id\":\"t1\"}", "{\"driver\":\"usb-kbd\"}",
                "{\"driver\":\"usb-storage\",\"id\":\"s\",\"drive\":\"d\"}", "{\"driver\":\"usb-tablet\",\"foo\":1}")) {
            JsonNode qe = q.execute("device_add", args), oe = o.execute("device_add", args);
            assertThat(oe.path("error")).as("%s: QEMU %s", args, qe).isEqualTo(qe.path("error"));
        }
        JsonNode qe = q.execute("device_del", "{\"id\":\"t1\"}"), oe = o.execute("device_del", "{\"id\":\"t1\"}");
        assertThat(oe.path("error")).isEqualTo(qe.path("error"));
    }

    @Test
    void plugsIntoFreePortsAndUnplugsWhenTheHubIsDone() throws Exception {
        FakeHub hub = new FakeHub();
        UsbBus bus = new UsbBus();
        bus.connect(hub);
        QmpServer server = new QmpServer(dir.resolve("q.sock"), "test");
        DeviceDrivers.install(server).register(new UsbDeviceDriver(bus));
        InputCommands.install(server, bus.inputs(), bus::has, () -> true);
        server.start();
        Path image = dir.resolve("disk.img");
        Files.write(image, new byte[1 << 20]);
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(server.path()));
            BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
            OutputStream out = Channels.newOutputStream(ch);
            QmpPair.Client c = new QmpPair.Client(in, out).negotiated();
            assertThat(c.execute("device_add", "{\"driver\":\"usb-tablet\",\"id\":\"tab\",\"bus\":\"usb-bus.0\"}").has("return")).isTrue();
            assertThat(c.execute("device_add", "{\"driver\":\"usb-kbd\",\"id\":\"kb\"}").has("return")).isTrue();
            assertThat(c.execute("device_add", "{\"driver\":\"usb-storage\",\"id\":\"st\",\"x-vmm-path\":\"" + image
                    + "\",\"x-vmm-readonly\":true}").has("return")).isTrue();
            assertThat(hub.ports.get(1).productName()).isEqualTo("usb-tablet");
            assertThat(hub.ports.get(1).speed()).isEqualTo(UsbSpeed.HIGH);
            assertThat(hub.ports.get(2).productName()).isEqualTo("usb-kbd");
            assertThat(hub.ports.get(5).productName()).isEqualTo("usb-storage");
            assertThat(hub.ports.get(5).speed()).isEqualTo(UsbSpeed.SUPER);

            assertThat(c.execute("device_add", "{\"driver\":\"usb-tablet\",\"id\":\"tab\"}").at("/error/desc").asText())
                    .isEqualTo("Duplicate device ID 'tab'");
            assertThat(c.execute("device_add", "{\"driver\":\"usb-kbd\",\"id\":\"k2\",\"foo\":1}").at("/error/desc").asText())
                    .isEqualTo("Property 'usb-kbd.foo' not found");
            assertThat(c.execute("device_add", "{\"driver\":\"usb-storage\",\"id\":\"s2\"}").at("/error/desc").asText())
                    .isEqualTo("drive property not set");
            assertThat(c.execute("device_add", "{\"driver\":\"usb-storage\",\"id\":\"s3\",\"x-vmm-path\":\"" + dir.resolve("none.img") + "\"}")
                    .at("/error/desc").asText()).contains("no such file");
            // The USB 2 ports fill up: the fifth USB 2 device has no port.
            assertThat(c.execute("device_add", "{\"driver\":\"usb-kbd\",\"id\":\"k3\"}").has("return")).isTrue();
            assertThat(c.execute("device_add", "{\"driver\":\"usb-kbd\",\"id\":\"k4\"}").has("return")).isTrue();
            assertThat(c.execute("device_add", "{\"driver\":\"usb-kbd\",\"id\":\"k5\"}").at("/error/desc").asText())
                    .isEqualTo("no free USB 2 port");
            assertThat(bus.has("k5")).isFalse();
            // The hot-plugged tablet takes input-send-event's absolute events.
            assertThat(c.execute("input-send-event", "{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":5}}]}")
                    .has("return")).isTrue();

            // device_del: no event until the hub has detached the device.
            out.write("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"st\"}}\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            assertThat(QmpPair.JSON.readTree(in.readLine()).has("return")).isTrue();
            assertThat(bus.has("st")).isTrue();
            UsbDevice storage = hub.ports.get(5);
            hub.unplugging.get(storage).complete(null);
            JsonNode ev = QmpPair.JSON.readTree(in.readLine());
            assertThat(ev.path("event").asText()).isEqualTo("DEVICE_DELETED");
            assertThat(ev.at("/data/device").asText()).isEqualTo("st");
            assertThat(bus.has("st")).isFalse();
            assertThat(hub.ports).doesNotContainKey(5);
            // The image lock went with it: the same file plugs again.
            assertThat(c.execute("device_add", "{\"driver\":\"usb-storage\",\"id\":\"st\",\"x-vmm-path\":\"" + image + "\"}")
                    .has("return")).isTrue();
            assertThat(c.execute("device_del", "{\"id\":\"nope\"}").at("/error/class").asText()).isEqualTo("DeviceNotFound");
        } finally {
            server.close();
            bus.close();
        }
    }
}
