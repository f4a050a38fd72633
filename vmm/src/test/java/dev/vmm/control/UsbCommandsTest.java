package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.config.UsbSpec;
import dev.vmm.devices.UsbBus;
import dev.vmm.lifecycle.RunState;
import dev.vmm.usb.hid.HidDevice;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link UsbCommands} as {@code vmm run} installs it, on a {@link KvmFreeMachine} with a real xHCI
 * controller ({@code --usb}'s attach code) and its root hub: usb-tablet/usb-kbd hot-plug,
 * {@code x-vmm-query-usb} (our own: the hub's ports and what is in them, read back from the hub)
 * and {@code input-send-event}, which reaches a plugged tablet only while the guest runs or is
 * suspended. Replies QEMU also has are compared with QEMU 7.2 ({@code -machine pc,accel=tcg -S
 * -device qemu-xhci}) at test time.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class UsbCommandsTest {
    private static final String MOVE = "{\"device\":\"t1\",\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":1000}},"
            + "{\"type\":\"btn\",\"data\":{\"button\":\"left\",\"down\":true}}]}";

    @TempDir
    Path dir;
    @AutoClose
    private final Closer open = new Closer();
    private KvmFreeMachine machine;
    private EventQmpClient ours, qemu;

    private void start(boolean usb) throws Exception {
        machine = new KvmFreeMachine(usb ? List.of(new UsbSpec()) : List.of());
        open.add(machine);
        ours = EventQmpClient.serving(dir.resolve("qmp.sock"), open,
                s -> UsbCommands.install(s, DeviceDrivers.install(s), machine.registry, machine.lifecycle));
        List<String> opts = new ArrayList<>(List.of("-machine", "pc,accel=tcg", "-S"));
        if (usb) opts.addAll(List.of("-device", "qemu-xhci,id=xhci"));
        qemu = EventQmpClient.qemu(opts);
        open.add(qemu);
    }

    private JsonNode both(String command, String args) throws Exception {
        JsonNode q = qemu.execute(command, args), o = ours.execute(command, args);
        assertThat(o).as("%s %s: ours vs QEMU's", command, args).isEqualTo(q);
        return o;
    }

    private HidDevice plugged(String id) {
        return machine.registry.usb().plugged().stream().filter(p -> id.equals(p.id())).map(UsbBus.Plugged::device)
                .map(HidDevice.class::cast).findFirst().orElseThrow();
    }

    @Test
    void tabletAndKeyboardArePluggedListedAndUnplugged() throws Exception {
        start(true);
        JsonNode empty = ours.execute("x-vmm-query-usb", null).get("return");
        assertThat(empty).hasSize(machine.registry.usbHub().ports().size()).isNotEmpty();
        for (JsonNode p : empty) assertThat(p.has("device")).as("%s", p).isFalse();
        for (int i = 0; i < empty.size(); i++) assertThat(empty.get(i).get("port").asInt()).isEqualTo(machine.registry.usbHub().ports().get(i).number());

        both("device_add", "{\"driver\":\"usb-tablet\",\"id\":\"t1\"}");
        both("device_add", "{\"driver\":\"usb-kbd\",\"id\":\"k1\"}");
        both("device_add", "{\"driver\":\"usb-kbd\",\"id\":\"k1\"}");            // the id is taken
        JsonNode listed = ours.execute("x-vmm-query-usb", null).get("return");
        List<String> ids = new ArrayList<>();
        for (JsonNode p : listed) {
            if (!p.has("device")) continue;
            JsonNode d = p.get("device");
            ids.add(d.get("id").asText());
            assertThat(p.get("protocol").asText()).as("a HID device sits on a USB 2 port").isEqualTo("usb2");
            HidDevice dev = plugged(d.get("id").asText());
            assertThat(d.get("speed").asText()).isEqualTo(dev.speed().name().toLowerCase(java.util.Locale.ROOT));
            assertThat(d.get("speed-mbps")).isEqualTo(EventQmpClient.JSON.valueToTree(UsbQuery.mbps(dev.speed())));
            assertThat(d.get("product").asText()).isEqualTo(dev.productName());
        }
        assertThat(ids).containsExactlyInAnyOrder("t1", "k1");
        assertThat(ours.execute("x-vmm-query-usb", "{\"x\":1}").at("/error/desc").asText()).isEqualTo("Parameter 'x' is unexpected");
    }

    /** Stands for the tablet on the machine's input router (the last handler registered for a kind takes it). */
    private static final class Recorder implements dev.vmm.input.InputHandler {
        final List<dev.vmm.input.InputEvent> events = new java.util.concurrent.CopyOnWriteArrayList<>();
        final java.util.concurrent.atomic.AtomicInteger syncs = new java.util.concurrent.atomic.AtomicInteger();

        @Override public java.util.Set<dev.vmm.input.InputEvent.Kind> kinds() {
            return java.util.Set.of(dev.vmm.input.InputEvent.Kind.ABS, dev.vmm.input.InputEvent.Kind.BTN);
        }

        @Override public void event(dev.vmm.input.InputEvent e) { events.add(e); }

        @Override public void sync() { syncs.incrementAndGet(); }
    }

    @Test
    void inputReachesTheMachineOnlyWhileTheGuestRunsOrSleeps() throws Exception {
        start(true);
        both("device_add", "{\"driver\":\"usb-tablet\",\"id\":\"t1\"}");
        assertThat(machine.registry.usb().inputs().handlerFor(dev.vmm.input.InputEvent.Kind.ABS)).isSameAs(plugged("t1"));
        Recorder r = new Recorder();
        machine.registry.usb().inputs().register(r);
        String move = MOVE.replace("\"device\":\"t1\",", "");
        both("input-send-event", move);                                      // prelaunch: VM not running
        both("input-send-event", MOVE);                                      // a device: QEMU's error for it
        both("input-send-event", MOVE.replace("\"t1\"", "\"nope\""));
        assertThat(r.events).isEmpty();

        machine.run(false, false);                                           // running
        qemu.execute("cont", null);
        both("input-send-event", move);
        assertThat(r.events).hasSize(2);
        assertThat(r.syncs.get()).isEqualTo(1);
        both("input-send-event", MOVE);
        assertThat(r.events).hasSize(2);

        machine.pause();                                                     // paused: refused again
        qemu.execute("stop", null);
        both("input-send-event", move);
        assertThat(ours.execute("input-send-event", move).at("/error/desc").asText()).isEqualTo("VM not running");
        assertThat(r.events).hasSize(2);

        machine.resume();
        machine.lifecycle.states().transition(RunState.SUSPENDED);           // S3: events are taken (they wake the guest)
        assertThat(ours.execute("input-send-event", move).has("return")).isTrue();
        assertThat(r.events).hasSize(4);
    }

    @Test
    void withoutAControllerThereIsNoUsbToList() throws Exception {
        start(false);
        JsonNode r = ours.execute("x-vmm-query-usb", null);
        assertThat(r.at("/error/class").asText()).isEqualTo("GenericError");
        assertThat(r.at("/error/desc").asText()).isEqualTo("No USB host controller (start the machine with --usb)");
        JsonNode q = qemu.execute("device_add", "{\"driver\":\"usb-tablet\",\"id\":\"t1\"}");
        JsonNode o = ours.execute("device_add", "{\"driver\":\"usb-tablet\",\"id\":\"t1\"}");
        assertThat(o.at("/error/class").asText()).isEqualTo(q.at("/error/class").asText());
        assertThat(o.at("/error/desc").asText()).startsWith(q.at("/error/desc").asText());
        assertThat(machine.registry.usb().plugged()).isEmpty();
    }
}
