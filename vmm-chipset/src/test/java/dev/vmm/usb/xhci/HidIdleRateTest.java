package dev.vmm.usb.xhci;

import dev.vmm.input.InputEvent;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbStateException;
import dev.vmm.usb.hid.UsbTablet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static dev.vmm.usb.xhci.XhciDriver.setup;
import static dev.vmm.usb.xhci.XhciDriver.transferEventFor;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The HID idle rate (HID 1.11 §7.2.4) through the xHCI model with a clock the test moves: after
 * SET_IDLE(duration) an interrupt IN TD the tablet holds completes with the current report every
 * duration × 4 ms when nothing changes, a change restarts the period, 0 stops the repeats, GET_IDLE
 * answers per report id, and the rate and the time left survive a save and load (state version 2;
 * a version 1 state, without the time left, starts a fresh period).
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class HidIdleRateTest {
    private static final long MS = 1_000_000L;
    private static final int DCI = 3; // endpoint 1 IN

    private final XhciRig rig = new XhciRig();
    private final XhciDriver d = rig.driver;
    private final UsbTablet tablet = new UsbTablet();
    private XhciDriver.Device device;
    private long buf;

    @BeforeEach
    void enumerate() {
        d.init(8);
        int port = rig.hc.plug(tablet, 0);
        d.await(e -> e.type() == Trb.PORT_STATUS_CHANGE_EVENT);
        d.portsc(port, RootHubPort.PP | RootHubPort.CSC | RootHubPort.PR);
        d.await(e -> e.type() == Trb.PORT_STATUS_CHANGE_EVENT);
        d.portsc(port, RootHubPort.PP | RootHubPort.PRC);
        device = d.newDevice();
        assertThat(code(d.address(device, port, tablet.speed(), false))).isEqualTo(CompletionCode.SUCCESS);
        assertThat(control(0, UsbSetup.SET_CONFIGURATION, 1, 0)).isEqualTo(CompletionCode.SUCCESS);
        assertThat(code(d.configure(device, new XhciDriver.EndpointSpec(DCI, 7, 8)))).isEqualTo(CompletionCode.SUCCESS);
        buf = d.alloc(8, 64);
    }

    @AfterEach
    void tearDown() {
        rig.close();
    }

    /** A no-data control request; its completion code. */
    private int control(int requestType, int request, int value, int index) {
        long[] at = d.control(device, setup(requestType, request, value, index, 0), 0, 0, false);
        return code(d.await(e -> transferEventFor(e, at[2])));
    }

    private int setIdle(int reportId, int duration) {
        return control(0x21, 0x0a, duration << 8 | reportId, 0);
    }

    private int getIdle(int reportId) {
        long b = d.alloc(8, 64);
        long[] at = d.control(device, setup(0xa1, 0x02, reportId, 0, 1), b, 1, true);
        assertThat(code(d.await(e -> transferEventFor(e, at[2])))).isEqualTo(CompletionCode.SUCCESS);
        return d.read(b, 1)[0] & 0xff;
    }

    /** Queues one interrupt IN TD; returns its TRB address. */
    private long queueReport() {
        long trb = device.rings[DCI].push(buf, 8, Trb.NORMAL << 10 | Trb.IOC | Trb.ISP);
        d.doorbell(device, DCI);
        return trb;
    }

    /** Moves the clock 1 ms at a time until the TD completes or {@code limitMs} passed; the ms it took, or -1. */
    private long msUntilReport(long trb, long limitMs) {
        for (long ms = 0; ms <= limitMs; ms++) {
            if (d.take(e -> transferEventFor(e, trb)) != null) return ms;
            rig.clock.advance(MS);
        }
        return -1;
    }

    @Test
    void nonZeroDurationRepeatsTheUnchangedReportEveryDurationTimesFourMs() {
        tablet.event(new InputEvent.Move(true, InputEvent.Axis.X, 0x1000));
        tablet.sync();
        long first = queueReport();
        assertThat(msUntilReport(first, 0)).as("the queued change report").isZero();
        byte[] report = d.read(buf, 6);

        assertThat(setIdle(0, 10)).isEqualTo(CompletionCode.SUCCESS); // 40 ms
        assertThat(getIdle(0)).isEqualTo(10);
        long trb = queueReport();
        assertThat(msUntilReport(trb, 39)).as("nothing before the period ends").isEqualTo(-1);
        // The 40th ms has just passed in msUntilReport's last step: the repeat is there.
        assertThat(d.take(e -> transferEventFor(e, trb))).isNotNull();
        assertThat(d.read(buf, 6)).as("the last report again").containsExactly(report);

        // One simulated second with a TD always queued: exactly 25 reports, 40 ms apart.
        int reports = 0;
        for (int i = 0; i < 25; i++) {
            long next = queueReport();
            long took = msUntilReport(next, 100);
            assertThat(took).as("report %d", i).isEqualTo(40);
            reports++;
        }
        assertThat(reports).isEqualTo(25);
    }

    @Test
    void aChangeRestartsThePeriodAndZeroStopsTheRepeats() {
        assertThat(setIdle(0, 10)).isEqualTo(CompletionCode.SUCCESS);
        rig.clock.advance(20 * MS);
        long trb = queueReport();
        tablet.event(new InputEvent.Btn(InputEvent.Button.LEFT, true));
        tablet.sync();
        assertThat(msUntilReport(trb, 0)).as("the change, at once").isZero();
        long idle = queueReport();
        assertThat(msUntilReport(idle, 100)).as("40 ms after the change, not after SET_IDLE").isEqualTo(40);

        assertThat(setIdle(0, 0)).isEqualTo(CompletionCode.SUCCESS);
        long none = queueReport();
        assertThat(msUntilReport(none, 2000)).as("duration 0: only on change").isEqualTo(-1);
        tablet.event(new InputEvent.Btn(InputEvent.Button.LEFT, false));
        tablet.sync();
        assertThat(msUntilReport(none, 0)).isZero();
    }

    @Test
    void anInterruptInAfterTheDeadlineGetsTheReportAtOnce() {
        assertThat(setIdle(0, 1)).isEqualTo(CompletionCode.SUCCESS); // 4 ms
        rig.clock.advance(50 * MS); // no TD queued meanwhile
        long trb = queueReport();
        assertThat(msUntilReport(trb, 0)).isZero();
        long next = queueReport();
        assertThat(msUntilReport(next, 10)).isEqualTo(4);
    }

    @Test
    void getIdleAnswersPerReportIdAndReportIdZeroSetsThemAll() {
        assertThat(getIdle(0)).as("after configuration").isZero();
        assertThat(setIdle(3, 125)).isEqualTo(CompletionCode.SUCCESS);
        assertThat(setIdle(255, 255)).isEqualTo(CompletionCode.SUCCESS);
        assertThat(getIdle(3)).isEqualTo(125);
        assertThat(getIdle(255)).isEqualTo(255);
        assertThat(getIdle(0)).isZero();
        // Our reports carry no report id: a rate for id 3 repeats nothing.
        long trb = queueReport();
        assertThat(msUntilReport(trb, 1100)).isEqualTo(-1);
        assertThat(setIdle(0, 7)).isEqualTo(CompletionCode.SUCCESS);
        assertThat(getIdle(3)).isEqualTo(7);
        assertThat(getIdle(255)).isEqualTo(7);
        // SET_IDLE with a data stage or in the IN direction is a request error.
        long b = d.alloc(8, 64);
        long[] bad = d.control(device, setup(0xa1, 0x0a, 0x0500, 0, 1), b, 1, true);
        assertThat(code(d.await(e -> e.type() == Trb.TRANSFER_EVENT && (e.parameter() == bad[0] || e.parameter() == bad[1] || e.parameter() == bad[2]))))
                .isEqualTo(CompletionCode.STALL_ERROR);
    }

    private byte[] save() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        tablet.saveState(new DataOutputStream(b));
        return b.toByteArray();
    }

    private void load(byte[] state, int version) throws IOException {
        tablet.loadState(new DataInputStream(new ByteArrayInputStream(state)), version);
    }

    @Test
    void theRateAndTheTimeLeftSurviveASaveAndLoad() throws IOException {
        assertThat(tablet.stateVersion()).isEqualTo(2);
        assertThat(setIdle(0, 10)).isEqualTo(CompletionCode.SUCCESS);
        assertThat(setIdle(9, 3)).isEqualTo(CompletionCode.SUCCESS);
        rig.clock.advance(30 * MS);
        byte[] v2 = save();
        assertThat(setIdle(0, 0)).isEqualTo(CompletionCode.SUCCESS);

        load(v2, 2);
        assertThat(getIdle(0)).isEqualTo(10);
        assertThat(getIdle(9)).isEqualTo(3);
        long trb = queueReport();
        assertThat(msUntilReport(trb, 100)).as("the 10 ms left of the saved period").isEqualTo(10);

        // Version 1 (no other ids, no time left: the trailing 1 + 2 + 8 bytes): a fresh period from the load.
        byte[] v1 = Arrays.copyOf(v2, v2.length - 11);
        assertThat(setIdle(0, 0)).isEqualTo(CompletionCode.SUCCESS);
        load(v1, 1);
        assertThat(getIdle(0)).isEqualTo(10);
        assertThat(getIdle(9)).as("version 1 had one rate").isEqualTo(10);
        long next = queueReport();
        assertThat(msUntilReport(next, 100)).isEqualTo(40);
    }

    @Test
    void hostileIdleStatesAreRefusedAndTheDeviceKeepsItsOwn() throws IOException {
        assertThat(setIdle(0, 2)).isEqualTo(CompletionCode.SUCCESS);
        byte[] good = save();
        byte[] tooLong = good.clone();
        // time left past the period (8 ms): 9 ms
        java.nio.ByteBuffer.wrap(tooLong, tooLong.length - 8, 8).putLong(9 * MS);
        assertThatThrownBy(() -> load(tooLong, 2)).isInstanceOf(UsbStateException.class).hasMessageContaining("idle time left");
        byte[] unsorted = Arrays.copyOf(good, good.length + 4);
        // one more id pair (id 0 is not allowed: it is the rate written before)
        System.arraycopy(good, good.length - 9, unsorted, good.length - 9 + 4, 9);
        unsorted[good.length - 9] = 2;
        unsorted[good.length - 8] = 5;
        unsorted[good.length - 7] = 1;
        unsorted[good.length - 6] = 5;
        unsorted[good.length - 5] = 1;
        assertThatThrownBy(() -> load(unsorted, 2)).isInstanceOf(UsbStateException.class).hasMessageContaining("idle report id");
        assertThatThrownBy(() -> load(good, 3)).isInstanceOf(UsbStateException.class).hasMessageContaining("state version 3");
        assertThat(getIdle(0)).isEqualTo(2);
        load(good, 2);
        assertThat(getIdle(0)).isEqualTo(2);
    }
}
