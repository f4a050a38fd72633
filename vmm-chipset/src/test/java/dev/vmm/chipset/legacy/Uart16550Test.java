package dev.vmm.chipset.legacy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.chipset.testing.RecordingLine;
import java.io.ByteArrayOutputStream;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class Uart16550Test {
    static final int RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5,
            MSR = 6, SCR = 7;

    final RecordingLine line = new RecordingLine();
    final ByteArrayOutputStream output = new ByteArrayOutputStream();
    final Uart16550 uart = new Uart16550(line, b -> output.write(b));

    int in(int reg) { return (int) uart.read(reg, 1); }

    void out(int reg, int v) { uart.write(reg, 1, v); }

    @Test
    void powerOnState() {
        assertThat(in(IER)).isZero();
        assertThat(in(IIR)).isEqualTo(0x01);
        assertThat(in(LCR)).isZero();
        assertThat(in(MCR)).isZero();
        assertThat(in(LSR)).isEqualTo(0x60);
        assertThat(in(MSR)).isEqualTo(0xb0); // DCD, DSR, CTS: a connected, ready peer
        assertThat(line.level()).isFalse();
    }

    @Test
    void transmitsToTheSinkAndStaysEmpty() {
        for (byte b : "hello\n".getBytes()) {
            assertThat(in(LSR) & 0x60).isEqualTo(0x60);
            out(THR, b);
        }
        assertThat(output.toString()).isEqualTo("hello\n");
        assertThat(in(LSR)).isEqualTo(0x60);
    }

    @Test
    void divisorLatchRoundTripUnderDlab() {
        out(IER, 0x05);
        out(LCR, 0x83);
        out(DLL, 0x01);
        out(DLM, 0x02);
        assertThat(in(DLL)).isEqualTo(0x01);
        assertThat(in(DLM)).isEqualTo(0x02);
        assertThat(output.size()).isZero(); // DLL write is not a THR write
        out(LCR, 0x03);
        assertThat(in(IER)).isEqualTo(0x05);
        assertThat(in(LCR)).isEqualTo(0x03);
        out(LCR, 0x80);
        assertThat(in(DLL) | in(DLM) << 8).isEqualTo(0x0201);
    }

    @Test
    void ierUpperBitsAreHardwiredToZero() {
        out(IER, 0xff);
        assertThat(in(IER)).isEqualTo(0x0f);
        out(MCR, 0xff);
        assertThat(in(MCR)).isEqualTo(0x1f);
    }

    @Test
    void scratchRegisterHoldsAnyValue() {
        for (int v : new int[] {0x00, 0x55, 0xaa, 0xff}) {
            out(SCR, v);
            assertThat(in(SCR)).isEqualTo(v);
        }
    }

    @Test
    void receivesEnqueuedBytesInOrder() {
        out(FCR, 0x01);
        assertThat(uart.enqueue("abc".getBytes())).isEqualTo(3);
        assertThat(in(LSR) & 0x01).isEqualTo(1);
        assertThat(in(RBR)).isEqualTo('a');
        assertThat(in(RBR)).isEqualTo('b');
        assertThat(in(RBR)).isEqualTo('c');
        assertThat(in(LSR) & 0x01).isZero();
        assertThat(in(RBR)).isZero(); // empty FIFO
    }

    @Test
    void fifoFillsToSixteenThenOverruns() {
        out(FCR, 0x07);
        assertThat(uart.rxSpace()).isEqualTo(16);
        byte[] data = new byte[20];
        for (int i = 0; i < data.length; i++) data[i] = (byte) ('A' + i);
        assertThat(uart.enqueue(data)).isEqualTo(16);
        assertThat(uart.rxSpace()).isZero();
        int lsr = in(LSR);
        assertThat(lsr & 0x03).isEqualTo(0x03); // DR and OE
        assertThat(in(LSR) & 0x02).as("OE clears on read").isZero();
        for (int i = 0; i < 16; i++) assertThat(in(RBR)).isEqualTo('A' + i);
        assertThat(in(LSR) & 0x01).isZero();
        assertThat(uart.rxSpace()).isEqualTo(16);
    }

    @Test
    void withoutFifoTheHoldingRegisterIsOneByteAndOverrunOverwrites() {
        assertThat(uart.rxSpace()).isEqualTo(1);
        assertThat(uart.enqueue(new byte[] {1, 2})).isEqualTo(1);
        assertThat(in(LSR) & 0x03).isEqualTo(0x03);
        assertThat(in(RBR)).isEqualTo(2);
    }

    @Test
    void fcrClearsReceiveFifoAndModeSwitchEmptiesIt() {
        out(FCR, 0x01);
        uart.enqueue("xyz".getBytes());
        out(FCR, 0x03);
        assertThat(in(LSR) & 0x01).isZero();
        uart.enqueue("xyz".getBytes());
        out(FCR, 0x00);
        assertThat(in(LSR) & 0x01).isZero();
        assertThat(in(IIR) & 0xc0).isZero();
    }

    @Test
    void iirReportsFifoEnabledInBits6And7() {
        out(FCR, 0x01);
        assertThat(in(IIR)).isEqualTo(0xc1);
        out(FCR, 0x00);
        assertThat(in(IIR)).isEqualTo(0x01);
    }

    @Test
    void receiveTriggerLevelSeparatesDataAvailableFromTimeout() {
        out(FCR, 0x81); // trigger at 8
        out(IER, 0x01);
        uart.enqueue(new byte[7]);
        assertThat(in(IIR)).isEqualTo(0xcc);
        uart.enqueue(new byte[1]);
        assertThat(in(IIR)).isEqualTo(0xc4);
        in(RBR);
        assertThat(in(IIR)).isEqualTo(0xcc);
        for (int i = 0; i < 7; i++) in(RBR);
        assertThat(in(IIR)).isEqualTo(0xc1);
    }

    @Test
    void interruptPriorityIsLineStatusThenDataThenThreThenModem() {
        out(FCR, 0x01);
        out(MCR, 0x08);
        out(MCR, 0x18); // loopback: lines change, MSR deltas pending
        out(MCR, 0x08); // back out of loopback
        out(IER, 0x0f);
        uart.enqueue(new byte[17]); // data and an overrun
        assertThat(in(IIR)).isEqualTo(0xc6); // receiver line status
        in(LSR);
        assertThat(in(IIR)).isEqualTo(0xc4); // data available (16 bytes >= trigger level 1)
    }

    @Test
    void interruptPriorityFullOrder() {
        out(MCR, 0x08);
        out(MCR, 0x10); // loopback with all outputs low: CTS/DSR/DCD drop, deltas set
        out(MCR, 0x08);
        out(IER, 0x0f); // THRE rises immediately
        uart.enqueue(new byte[] {1, 2}); // 16450 mode: second byte overruns
        assertThat(in(IIR)).isEqualTo(0x06);
        assertThat(in(LSR) & 0x02).isEqualTo(0x02);
        assertThat(in(IIR)).isEqualTo(0x04);
        in(RBR);
        assertThat(in(IIR)).isEqualTo(0x02); // reading it acknowledges THRE
        assertThat(in(IIR)).isEqualTo(0x00); // modem status
        assertThat(in(MSR) & 0x0f).isNotZero();
        assertThat(in(IIR)).isEqualTo(0x01);
        assertThat(line.level()).isFalse();
    }

    @Test
    void threInterruptRaisedWhenEnabledWhileEmptyAndAckedByIirRead() {
        out(MCR, 0x08);
        out(IER, 0x02);
        assertThat(line.level()).isTrue();
        assertThat(in(IIR)).isEqualTo(0x02);
        assertThat(line.level()).isFalse();
        assertThat(in(IIR)).isEqualTo(0x01);
        // Re-writing the same IER is not a rising edge of ETBEI.
        out(IER, 0x02);
        assertThat(in(IIR)).isEqualTo(0x01);
        // A THR write empties at once and re-raises it.
        out(THR, 'x');
        assertThat(line.level()).isTrue();
        assertThat(in(IIR)).isEqualTo(0x02);
        // Disabling ETBEI drops it.
        out(THR, 'y');
        out(IER, 0x00);
        assertThat(line.level()).isFalse();
        assertThat(in(IIR)).isEqualTo(0x01);
    }

    /** The sequence serial8250_do_startup() uses to detect UART_BUG_THRE: a real 16550 passes it. */
    @Test
    void linuxThreBugProbeSeesTheInterruptReasserted() {
        out(IER, 0x02);
        int iir1 = in(IIR);
        out(IER, 0x00);
        out(IER, 0x02);
        int iir = in(IIR);
        out(IER, 0x00);
        assertThat(iir1 & 0x01).isZero();
        assertThat(iir & 0x01).isZero();
    }

    @Test
    void lineFollowsOut2Gating() {
        out(IER, 0x02);
        assertThat(line.level()).as("pending but OUT2 clear").isFalse();
        assertThat(in(IIR)).isEqualTo(0x02); // pending nonetheless
        out(IER, 0x00);
        out(MCR, 0x08);
        out(IER, 0x02);
        assertThat(line.level()).isTrue();
        out(MCR, 0x00);
        assertThat(line.level()).isFalse();
        out(MCR, 0x08);
        assertThat(line.level()).isTrue();
        out(MCR, 0x18); // loopback forces OUT2's pin inactive
        assertThat(line.level()).isFalse();
        assertThat(uart.interruptAsserted()).isFalse();
    }

    @Test
    void receiveInterruptLevelTracksFifoContents() {
        out(MCR, 0x0b);
        out(FCR, 0x01);
        out(IER, 0x01);
        assertThat(line.level()).isFalse();
        uart.enqueue(new byte[] {'a', 'b'});
        assertThat(line.level()).isTrue();
        in(RBR);
        assertThat(line.level()).isTrue();
        in(RBR);
        assertThat(line.level()).isFalse();
        assertThat(line.risingEdges()).isEqualTo(1);
    }

    @Test
    void loopbackEchoesThrIntoReceiverAndMirrorsModemLines() {
        out(FCR, 0x01);
        out(MCR, 0x10);
        assertThat(in(MSR) & 0xf0).isZero();
        out(THR, 'q');
        assertThat(output.size()).as("nothing leaves in loopback").isZero();
        assertThat(in(LSR) & 0x01).isEqualTo(1);
        assertThat(in(RBR)).isEqualTo('q');
        out(MCR, 0x11); // DTR -> DSR
        assertThat(in(MSR) & 0xf0).isEqualTo(0x20);
        out(MCR, 0x12); // RTS -> CTS
        assertThat(in(MSR) & 0xf0).isEqualTo(0x10);
        out(MCR, 0x14); // OUT1 -> RI
        assertThat(in(MSR) & 0xf0).isEqualTo(0x40);
        out(MCR, 0x18); // OUT2 -> DCD
        assertThat(in(MSR)).isEqualTo(0x80 | 0x04 | 0x08); // TERI (RI fell) and DDCD
        assertThat(in(MSR)).isEqualTo(0x80); // deltas clear on read
        // Host input is disconnected in loopback.
        assertThat(uart.rxSpace()).isZero();
        assertThat(uart.enqueue(new byte[] {1})).isZero();
        out(MCR, 0x00);
        assertThat(in(MSR) & 0xf0).isEqualTo(0xb0);
        assertThat(uart.rxSpace()).isEqualTo(16);
    }

    @Test
    void modemStatusInterruptFromLoopbackChanges() {
        out(MCR, 0x10);
        out(IER, 0x08);
        in(MSR);
        out(MCR, 0x12);
        assertThat(in(IIR)).isEqualTo(0x00);
        assertThat(in(MSR)).isEqualTo(0x11);
        assertThat(in(IIR)).isEqualTo(0x01);
    }

    /**
     * Replays the register traffic of Linux's 8250 autoconfig() and autoconfig_16550a() and checks
     * every decision comes out as "16550A" (not 8250/16450, 16750, XScale, ST16650, NS SuperIO).
     */
    @Test
    void linuxAutoconfigDetects16550A() {
        // Existence test: IER scratch.
        int saveIer = in(IER);
        out(IER, 0);
        int scratch1 = in(IER);
        out(IER, 0x0f);
        int scratch2 = in(IER);
        out(IER, saveIer);
        assertThat(scratch1 & 0x0f).isZero();
        assertThat(scratch2 & 0x0f).isEqualTo(0x0f);

        // Loopback test.
        int saveMcr = in(MCR);
        int saveLcr = in(LCR);
        out(MCR, 0x10 | 0x0a);
        assertThat(in(MSR) & 0xf0).isEqualTo(0x90);
        out(MCR, saveMcr);

        // FIFO type.
        out(LCR, 0xbf);
        out(2, 0); // EFR on 16650+, FCR here
        out(LCR, 0);
        out(FCR, 0x01);
        assertThat(in(IIR) >> 6).isEqualTo(3);

        // autoconfig_16550a: no EFR visible under DLAB / 0xbf.
        out(LCR, 0x80);
        assertThat(in(2)).isNotZero();
        out(LCR, 0xbf);
        assertThat(in(2)).isNotZero();
        // NS SuperIO bank switching: IIR bit 4 must not follow MCR.LOOP.
        out(LCR, 0);
        int status1 = in(MCR);
        out(LCR, 0xe0);
        int status2 = in(2);
        assertThat((status1 ^ status2) & 0x10).isZero();
        out(LCR, 0);
        out(MCR, status1 ^ 0x10);
        out(LCR, 0xe0);
        status2 = in(2);
        out(LCR, 0);
        out(MCR, status1);
        assertThat((status2 ^ status1) & 0x10).isZero();
        // TI16750: IIR bit 5 must stay clear with and without DLAB.
        out(LCR, 0);
        out(FCR, 0x21);
        int s1 = in(IIR) >> 5;
        out(FCR, 0x01);
        out(LCR, 0x80);
        out(FCR, 0x21);
        int s2 = in(IIR) >> 5;
        out(FCR, 0x01);
        out(LCR, 0);
        assertThat(s1).isEqualTo(6);
        assertThat(s2).isEqualTo(6);
        // XScale UUE bit (IER bit 6) must not stick.
        int iersave = in(IER);
        out(IER, iersave & ~0x40);
        out(IER, iersave | 0x40);
        assertThat(in(IER) & 0x40).isZero();
        out(IER, iersave);

        out(LCR, saveLcr);
        out(MCR, saveMcr);
        // serial8250_clear_fifos, then a dummy RX read and IER = 0.
        out(FCR, 0x01);
        out(FCR, 0x07);
        out(FCR, 0);
        in(RBR);
        out(IER, 0);
        assertThat(in(LSR)).isNotEqualTo(0xff);
        assertThat(output.size()).isZero();
    }

    @Test
    void wideAccessesSplitIntoByteCycles() {
        out(SCR, 0x5a);
        out(LCR, 0x03);
        // A 16-bit read at LSR covers LSR (5) and MSR (6).
        assertThat(uart.read(LSR, 2)).isEqualTo(0x60 | 0xb0 << 8);
        // Outside the eight registers: all ones.
        assertThat(uart.read(6, 4)).isEqualTo(0xb0 | 0x5a << 8 | 0xffff_0000L);
        uart.write(0, 2, 'A' | 0x0a << 8); // THR then IER
        assertThat(output.toString()).isEqualTo("A");
        assertThat(in(IER)).isEqualTo(0x0a);
        uart.write(9, 1, 0x12); // ignored
    }

    @Test
    void rxDrainedListenerFiresWhenGuestEmptiesFifo() {
        AtomicInteger calls = new AtomicInteger();
        uart.onRxDrained(calls::incrementAndGet);
        out(FCR, 0x01);
        uart.enqueue(new byte[] {1, 2});
        in(RBR);
        assertThat(calls).hasValue(0);
        in(RBR);
        assertThat(calls).hasValue(1);
        uart.enqueue(new byte[] {3});
        out(FCR, 0x03);
        assertThat(calls).hasValue(2);
        out(MCR, 0x10);
        assertThat(uart.rxSpace()).isZero();
        out(MCR, 0x00);
        assertThat(calls).hasValue(3);
    }

    @Test
    void stateRoundTripsRegistersAndFifo() {
        out(LCR, 0x80);
        out(DLL, 0x01);
        out(DLM, 0x00);
        out(LCR, 0x03);
        out(FCR, 0xc1);
        out(MCR, 0x0b);
        out(IER, 0x07);
        out(SCR, 0x42);
        uart.enqueue("hello".getBytes());
        Uart16550.State s = uart.state();
        assertThat(s.rxFifo()).containsExactly("hello".getBytes());

        RecordingLine line2 = new RecordingLine();
        Uart16550 copy = new Uart16550(line2, ByteSink.none());
        copy.restore(s);
        assertThat(line2.level()).isTrue();
        assertThat(copy.state()).usingRecursiveComparison().isEqualTo(s);
        assertThat(copy.read(IIR, 1)).isEqualTo(0xcc);
        assertThat(copy.read(SCR, 1)).isEqualTo(0x42);
        StringBuilder sb = new StringBuilder();
        while ((copy.read(LSR, 1) & 1) != 0) sb.append((char) copy.read(RBR, 1));
        assertThat(sb).hasToString("hello");
    }

    @Test
    void stateRejectsInconsistentValues() {
        assertThatThrownBy(() -> new Uart16550.State(0, 0, 0x10, 0, 0, 0, 0, 0, 0, false, new byte[0]))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Uart16550.State(0, 0, 0, 0, 0, 0, 0, 0, 0, false, new byte[2]))
                .hasMessageContaining("capacity");
        assertThatThrownBy(() -> new Uart16550.State(0, 0, 0, 0, 0, 0, 0x01, 0, 0, false, new byte[17]))
                .hasMessageContaining("capacity");
        assertThatThrownBy(() -> new Uart16550.State(0x100, 0, 0, 0, 0, 0, 0, 0, 0, false, new byte[0]))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void resetReturnsToPowerOnStateAndLowersLine() {
        out(MCR, 0x08);
        out(IER, 0x02);
        assertThat(line.level()).isTrue();
        uart.reset();
        assertThat(line.level()).isFalse();
        assertThat(in(IER)).isZero();
        assertThat(in(MCR)).isZero();
    }

    @Test
    void concurrentEnqueueAndGuestReadsLoseNothing() throws Exception {
        out(FCR, 0x01);
        int total = 2_000;
        Thread producer = new Thread(() -> {
            int sent = 0;
            while (sent < total) {
                int n = Math.min(uart.rxSpace(), total - sent);
                if (n == 0) {
                    Thread.yield();
                    continue;
                }
                byte[] chunk = new byte[n];
                for (int i = 0; i < n; i++) chunk[i] = (byte) (sent + i);
                if (uart.enqueue(chunk) != n) throw new AssertionError("overran despite rxSpace()");
                sent += n;
            }
        });
        producer.start();
        int received = 0;
        int[] data = new int[total];
        while (received < total) {
            if ((in(LSR) & 1) != 0) data[received++] = in(RBR);
            else Thread.yield();
        }
        producer.join();
        for (int i = 0; i < total; i++) assertThat(data[i]).as("byte %d", i).isEqualTo(i & 0xff);
        assertThat(in(LSR) & 0x02).as("no overrun").isZero();
    }
}
