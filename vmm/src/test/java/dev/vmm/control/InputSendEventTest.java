package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.input.InputRouter;
import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.hid.UsbKeyboard;
import dev.vmm.usb.hid.UsbTablet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code input-send-event}: argument checking compared with QEMU 7.2 ({@code -machine none}, no
 * input device, asked at test time) message for message, and events reaching a USB tablet and
 * keyboard as HID reports.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class InputSendEventTest {
    @TempDir
    Path dir;
    private QmpPair pair;

    @AfterEach
    void stop() throws Exception {
        if (pair != null) pair.close();
    }

    /** Arguments, good and bad; with no input device both sides end in an error for each. */
    static final List<String> ARGUMENTS = List.of(
            "{}", "{\"events\":5}", "{\"events\":null}", "{\"events\":[5]}", "{\"events\":[{}]}",
            "{\"events\":[{\"data\":{}}]}", "{\"events\":[{\"type\":5,\"data\":{}}]}",
            "{\"events\":[{\"type\":\"foo\",\"data\":{}}]}", "{\"events\":[{\"type\":\"abs\"}]}",
            "{\"events\":[{\"type\":\"abs\",\"data\":5}]}", "{\"events\":[{\"type\":\"abs\",\"data\":{\"value\":1}}]}",
            "{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":3,\"value\":1}}]}",
            "{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"z\",\"value\":1}}]}",
            "{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\"}}]}",
            "{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":\"a\"}}]}",
            "{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":1.5}}]}",
            "{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":99999999999999999999}}]}",
            "{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":4294967296}}]}",
            "{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":1,\"extra\":1}}]}",
            "{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":1},\"x\":1}]}",
            "{\"events\":[{\"type\":\"rel\",\"data\":{\"axis\":\"y\",\"value\":-3}}]}",
            "{\"events\":[{\"type\":\"btn\",\"data\":{\"down\":true}}]}",
            "{\"events\":[{\"type\":\"btn\",\"data\":{\"button\":\"left\"}}]}",
            "{\"events\":[{\"type\":\"btn\",\"data\":{\"down\":true,\"button\":\"foo\"}}]}",
            "{\"events\":[{\"type\":\"btn\",\"data\":{\"down\":\"yes\",\"button\":\"left\"}}]}",
            "{\"events\":[{\"type\":\"btn\",\"data\":{\"down\":true,\"button\":\"wheel-left\"}}]}",
            "{\"events\":[{\"type\":\"key\",\"data\":{\"down\":true}}]}",
            "{\"events\":[{\"type\":\"key\",\"data\":{\"key\":{\"type\":\"qcode\",\"data\":\"a\"}}}]}",
            "{\"events\":[{\"type\":\"key\",\"data\":{\"down\":true,\"key\":5}}]}",
            "{\"events\":[{\"type\":\"key\",\"data\":{\"down\":true,\"key\":{\"data\":\"a\"}}}]}",
            "{\"events\":[{\"type\":\"key\",\"data\":{\"down\":true,\"key\":{\"type\":\"qcode\"}}}]}",
            "{\"events\":[{\"type\":\"key\",\"data\":{\"down\":true,\"key\":{\"type\":\"bogus\",\"data\":1}}}]}",
            "{\"events\":[{\"type\":\"key\",\"data\":{\"down\":true,\"key\":{\"type\":\"qcode\",\"data\":\"nokey\"}}}]}",
            "{\"events\":[{\"type\":\"key\",\"data\":{\"down\":true,\"key\":{\"type\":\"qcode\",\"data\":5}}}]}",
            "{\"events\":[{\"type\":\"key\",\"data\":{\"down\":true,\"key\":{\"type\":\"number\",\"data\":\"x\"}}}]}",
            "{\"events\":[{\"type\":\"key\",\"data\":{\"down\":true,\"key\":{\"type\":\"qcode\",\"data\":\"kp_enter\",\"z\":1}}}]}",
            "{\"events\":[{\"type\":\"key\",\"data\":{\"down\":false,\"key\":{\"type\":\"number\",\"data\":30}}}]}",
            "{\"events\":[{\"type\":\"key\",\"data\":{\"down\":false,\"key\":{\"type\":\"qcode\",\"data\":\"lang2\"}}}]}",
            "{\"device\":\"nope\",\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":1}}]}",
            "{\"device\":5,\"events\":[]}", "{\"device\":null,\"events\":[]}", "{\"head\":\"a\",\"events\":[]}",
            "{\"head\":1,\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":1}}]}",
            "{\"foo\":1}", "{\"events\":[],\"foo\":1}",
            "{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":1}},{\"type\":\"abs\",\"data\":{\"axis\":\"q\",\"value\":1}}]}");

    @Test
    void argumentErrorsAreQemus() throws IOException {
        pair = new QmpPair(dir, s -> InputCommands.install(s, new InputRouter(), id -> false, () -> true));
        QmpPair.Client q = pair.qemu.negotiated(), o = pair.ours.negotiated();
        for (String args : ARGUMENTS) {
            JsonNode qe = q.execute("input-send-event", args), oe = o.execute("input-send-event", args);
            assertThat(oe.has("error")).as("%s: ours %s, QEMU %s", args, oe, qe).isEqualTo(qe.has("error"));
            assertThat(oe.path("error")).as("%s", args).isEqualTo(qe.path("error"));
        }
        // An empty list is fine on both.
        assertThat(o.execute("input-send-event", "{\"events\":[]}")).isEqualTo(q.execute("input-send-event", "{\"events\":[]}"));
    }

    /** Addresses and configures a device with the two requests a host must send. */
    static void configure(UsbDevice d) {
        for (UsbSetup s : List.of(new UsbSetup(0, UsbSetup.SET_ADDRESS, 3, 0, 0), new UsbSetup(0, UsbSetup.SET_CONFIGURATION, 1, 0, 0))) {
            CompletableFuture<UsbPacket> f = new CompletableFuture<>();
            d.handle(new UsbPacket(0, false, s, new byte[0], f::complete));
            assertThat(f.join().status()).isEqualTo(UsbPacket.Status.SUCCESS);
        }
    }

    static CompletableFuture<UsbPacket> poll(UsbDevice d, int length) {
        CompletableFuture<UsbPacket> f = new CompletableFuture<>();
        d.handle(new UsbPacket(1, true, null, new byte[length], f::complete));
        return f;
    }

    static byte[] report(CompletableFuture<UsbPacket> f) throws Exception {
        UsbPacket p = f.get(10, TimeUnit.SECONDS);
        assertThat(p.status()).isEqualTo(UsbPacket.Status.SUCCESS);
        return Arrays.copyOf(p.data(), p.actualLength());
    }

    @Test
    void eventsBecomeTabletAndKeyboardReports() throws Exception {
        InputRouter router = new InputRouter();
        UsbTablet tablet = new UsbTablet();
        UsbKeyboard kbd = new UsbKeyboard();
        configure(tablet);
        configure(kbd);
        router.register(tablet);
        router.register(kbd);
        boolean[] running = {true};
        Sender server = args -> InputCommands.send(QmpPair.JSON.readTree(args), router, "tab"::equals, () -> running[0]);
        var tabletPoll = poll(tablet, 6);
        var kbdPoll = poll(kbd, 8);
        server.send("{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":16384}},"
                + "{\"type\":\"abs\",\"data\":{\"axis\":\"y\",\"value\":8192}},{\"type\":\"btn\",\"data\":{\"down\":true,\"button\":\"left\"}},"
                + "{\"type\":\"key\",\"data\":{\"down\":true,\"key\":{\"type\":\"qcode\",\"data\":\"ctrl\"}}},"
                + "{\"type\":\"key\",\"data\":{\"down\":true,\"key\":{\"type\":\"number\",\"data\":46}}}]}");
        assertThat(report(tabletPoll)).containsExactly(1, 0x00, 0x40, 0x00, 0x20, 0);
        assertThat(report(kbdPoll)).containsExactly(0x01, 0, 0x06, 0, 0, 0, 0, 0); // ctrl + 'c' (scancode 2Eh)
        // One report per command, not per event; relative motion has no device here.
        assertThat(tablet.queuedReports()).isZero();
        assertThat(runError(server, "{\"events\":[{\"type\":\"rel\",\"data\":{\"axis\":\"x\",\"value\":1}}]}"))
                .isEqualTo("Input handler not found for event type rel");
        assertThat(runError(server, "{\"device\":\"tab\",\"events\":[]}")).isEqualTo("Device tab (head 0) is not bound to a QemuConsole");
        running[0] = false;
        assertThat(runError(server, "{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":1}}]}")).isEqualTo("VM not running");
    }

    /** One input-send-event with these arguments, as the QMP server would run it. */
    interface Sender {
        void send(String args) throws Exception;
    }

    private static String runError(Sender s, String args) throws Exception {
        try {
            s.send(args);
            return null;
        } catch (QmpServer.QmpException e) {
            return e.getMessage();
        }
    }
}
