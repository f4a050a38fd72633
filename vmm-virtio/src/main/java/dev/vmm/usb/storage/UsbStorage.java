package dev.vmm.usb.storage;

import dev.vmm.scsi.DataBuffer;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiResult;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbSpeed;
import dev.vmm.usb.UsbStateException;
import dev.vmm.usb.device.Descriptors;
import dev.vmm.usb.device.StandardUsbDevice;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * {@code usb-storage}: a USB Mass Storage device, SCSI transparent command set over the Bulk-Only
 * Transport (BOT 1.0), with the project's SCSI target ({@link ScsiTarget}, {@link ScsiDisk}) behind
 * it. SuperSpeed by default (bulk endpoints of 1024 bytes, bursts of 16), high or full speed when
 * asked.
 *
 * <p>The BOT phases: a CBW on bulk OUT, the data phase (OUT: the host's bytes are gathered, then the
 * command runs; IN: the command runs, then its bytes go out in as many packets as the host sends),
 * then the CSW on bulk IN. Commands that touch the disk run on {@code diskExecutor} (the block
 * layer's worker threads), never on the thread that calls {@link #handle}; an IN packet sent while
 * a command runs waits (NAK) and is completed when it finishes. A CBW that is not valid or not
 * meaningful (§6.2) stalls both bulk endpoints until a reset recovery (Bulk-Only Mass Storage Reset,
 * then CLEAR_FEATURE(ENDPOINT_HALT) on both); a host that gets the phases wrong is stalled on that
 * endpoint; a command that needs more data than the host announced ends in a phase error (§6.7).
 *
 * <p>BOT has no autosense: after a CSW "failed", the host sends REQUEST SENSE, so the transport
 * keeps each LUN's last sense data and answers that one REQUEST SENSE with it.
 */
public final class UsbStorage extends StandardUsbDevice {
    static final int BULK_ONLY_RESET = 0xff, GET_MAX_LUN = 0xfe;
    /** The largest data phase buffered: the SCSI target's largest transfer. */
    static final int MAX_BUFFER = (int) ScsiDisk.MAX_TRANSFER_BYTES;
    /** The data endpoints: bulk IN 1, bulk OUT 2. */
    static final int EP_IN = 0x81, EP_OUT = 0x02;

    private enum Phase { COMMAND, DATA_OUT, EXECUTING, DATA_IN, STATUS, NEEDS_RESET }

    private final ScsiTarget target;
    private final Executor diskExecutor;
    private final String serial;
    private final byte[][] sense;

    private Phase phase = Phase.COMMAND;
    /** Bumped on every reset: a command finishing for an older generation is dropped. */
    private long generation;
    private CommandBlockWrapper cbw;
    private byte[] outBuffer;
    private long outReceived;
    private byte[] inBuffer;
    private int inLength, inSent;
    private int cswStatus;
    private long residue;
    private final ArrayDeque<UsbPacket> waitingIn = new ArrayDeque<>();
    private long commands;
    /** Commands started and not yet finished with their packets completed (what {@link #quiesce} waits for). */
    private int inFlight;

    /**
     * @param serial       the iSerialNumber string (BOT §4.1.1: at least 12 characters 0-9/A-F)
     * @param diskExecutor where commands that touch the disk run (block-layer worker threads)
     */
    public UsbStorage(ScsiTarget target, Executor diskExecutor, UsbSpeed speed, String serial) {
        super(speed, "usb-storage");
        if (target.lunCount() > 16) throw new IllegalArgumentException("Bulk-Only Transport addresses at most 16 LUNs");
        this.target = target;
        this.diskExecutor = diskExecutor;
        this.serial = serial;
        this.sense = new byte[target.lunCount()][];
    }

    @Override
    protected Descriptors.Identity identity() {
        return new Descriptors.Identity(speed().superSpeed() ? 0x0300 : 0x0200, 0, 0, 0, 0x46f4, 0x0001, 0x0000, 1, 2, 3);
    }

    @Override
    protected UsbSpeed otherSpeed() {
        return switch (speed()) {
            case HIGH -> UsbSpeed.FULL;
            case FULL -> UsbSpeed.HIGH;
            default -> null;
        };
    }

    @Override
    protected List<String> strings() {
        return List.of("VMM", "VMM USB Storage", serial);
    }

    @Override
    protected Descriptors.Configuration configuration(UsbSpeed speed) {
        int maxPacket = switch (speed) {
            case SUPER -> 1024;
            case HIGH -> 512;
            default -> 64;
        };
        // SuperSpeed: bursts of 16 packets (bMaxBurst 15), no streams.
        Descriptors.Companion burst = speed.superSpeed() ? new Descriptors.Companion(15, 0, 0) : null;
        Descriptors.Interface bot = new Descriptors.Interface(0, 0x08 /* mass storage */, 0x06 /* SCSI transparent */,
                0x50 /* Bulk-Only */, 0, new byte[0], List.of(
                new Descriptors.Endpoint(EP_IN, Descriptors.EP_BULK, maxPacket, 0, burst),
                new Descriptors.Endpoint(EP_OUT, Descriptors.EP_BULK, maxPacket, 0, burst)));
        // Self-powered, bMaxPower 0 (no bus current), as QEMU's usb-storage (UsbStorageQemuOracleTest compares).
        return new Descriptors.Configuration(1, 0, 0x40, 0, List.of(bot));
    }

    /** Commands run since the device was created (statistics). */
    public synchronized long commands() { return commands; }

    // ---- class requests ------------------------------------------------------------------------

    @Override
    protected boolean classRequest(UsbSetup s, UsbPacket p) {
        if (s.type() != UsbSetup.TYPE_CLASS || s.recipient() != UsbSetup.RECIPIENT_INTERFACE || s.index() != 0
                || s.value() != 0) {
            return false;
        }
        if (s.request() == GET_MAX_LUN && s.in() && s.length() == 1) {
            return reply(p, new byte[] {(byte) (target.lunCount() - 1)});
        }
        if (s.request() == BULK_ONLY_RESET && !s.in() && s.length() == 0) {
            resetFunction(); // the bulk endpoints' halts stay until the host clears them (reset recovery)
            return ok(p);
        }
        return false;
    }

    // ---- bulk ----------------------------------------------------------------------------------

    @Override
    protected void dataTransfer(UsbPacket p, Descriptors.Endpoint ep) {
        List<Runnable> completions = new ArrayList<>();
        Runnable start = null;
        synchronized (this) {
            if (phase == Phase.NEEDS_RESET) {
                completions.add(() -> p.complete(UsbPacket.Status.STALL, 0));
            } else if (ep.in()) {
                waitingIn.addLast(p);
                serveIn(completions, ep);
            } else {
                start = out(p, ep, completions);
            }
        }
        completions.forEach(Runnable::run);
        if (start != null) start.run();
    }

    /** A bulk OUT packet: a CBW or data-out bytes. Returns the command to start, if one is ready. */
    private Runnable out(UsbPacket p, Descriptors.Endpoint ep, List<Runnable> completions) {
        switch (phase) {
            case COMMAND -> {
                CommandBlockWrapper c = CommandBlockWrapper.parse(p.data(), p.data().length, target.lunCount());
                if (c == null) {
                    // §6.6.1: stall both bulk pipes until a reset recovery.
                    phase = Phase.NEEDS_RESET;
                    halt(ep);
                    halt(endpoint(EP_IN & 0x0f, true));
                    completions.add(() -> p.complete(UsbPacket.Status.STALL, 0));
                    return null;
                }
                cbw = c;
                commands++;
                completions.add(() -> p.complete(UsbPacket.Status.SUCCESS, CommandBlockWrapper.LENGTH));
                if (!c.in() && c.dataLength() > 0) {
                    phase = Phase.DATA_OUT;
                    outBuffer = new byte[(int) Math.min(c.dataLength(), MAX_BUFFER)];
                    outReceived = 0;
                    return null;
                }
                return execute();
            }
            case DATA_OUT -> {
                long want = cbw.dataLength() - outReceived;
                int n = (int) Math.min(want, p.data().length);
                if (outReceived < outBuffer.length) {
                    System.arraycopy(p.data(), 0, outBuffer, (int) outReceived, (int) Math.min(n, outBuffer.length - outReceived));
                }
                outReceived += n;
                completions.add(() -> p.complete(UsbPacket.Status.SUCCESS, n));
                // A transfer that is not a whole number of max-size packets ends with a short packet:
                // the host has nothing more for this phase (Ho < Do), the command runs with what came.
                boolean shortPacket = p.data().length == 0 || p.data().length % ep.maxPacket() != 0;
                return outReceived >= cbw.dataLength() || shortPacket ? execute() : null;
            }
            default -> {
                // The host sends while the device expects to send or is busy: a phase mismatch.
                halt(ep);
                completions.add(() -> p.complete(UsbPacket.Status.STALL, 0));
                return null;
            }
        }
    }

    /** Moves to EXECUTING and returns the command's run (started by the caller outside the lock). */
    private Runnable execute() {
        phase = Phase.EXECUTING;
        inFlight++;
        CommandBlockWrapper c = cbw;
        long gen = generation;
        byte[] out = outBuffer;
        int outLen = out == null ? 0 : (int) Math.min(out.length, outReceived);
        outBuffer = null;
        byte[] stored = takeSense(c);
        if (stored != null) {
            return () -> finish(gen, c, senseResult(c, stored), stored, outLen);
        }
        Runnable run = () -> {
            byte[] in = c.in() ? new byte[(int) Math.min(c.dataLength(), MAX_BUFFER)] : new byte[0];
            DataBuffer dataOut = outLen > 0 ? new DataBuffer(java.lang.foreign.MemorySegment.ofArray(out).asSlice(0, outLen)) : DataBuffer.EMPTY;
            ScsiResult r = target.execute(c.lun(), c.cdb(), dataOut, in.length > 0 ? DataBuffer.of(in) : DataBuffer.EMPTY);
            finish(gen, c, r, in, outLen);
        };
        if (!target.touchesDisk(c.lun(), c.cdb())) return run; // no I/O: answered on this thread
        return () -> {
            try {
                diskExecutor.execute(run);
            } catch (RejectedExecutionException e) {
                finish(gen, c, null, new byte[0], outLen); // shutting down: the command fails
            }
        };
    }

    /** REQUEST SENSE after a failed command: the sense data kept for that LUN, cut to the allocation length. */
    private byte[] takeSense(CommandBlockWrapper c) {
        if (c.cdb().length < 6 || (c.cdb()[0] & 0xff) != ScsiDisk.REQUEST_SENSE || (c.cdb()[1] & 1) != 0 || !c.in()) return null;
        byte[] s = sense[c.lun()];
        sense[c.lun()] = null;
        if (s == null) return null;
        int n = (int) Math.min(Math.min(s.length, c.cdb()[4] & 0xff), c.dataLength());
        return java.util.Arrays.copyOf(s, n);
    }

    private static ScsiResult senseResult(CommandBlockWrapper c, byte[] answer) {
        return new ScsiResult(ScsiResult.GOOD, answer.length, c.dataLength() - answer.length, new byte[0], false);
    }

    /** A command ended (on any thread): set up the data-in and status phases, serve waiting packets. */
    private void finish(long gen, CommandBlockWrapper c, ScsiResult r, byte[] in, int outLen) {
        try {
            finishCommand(gen, c, r, in, outLen);
        } finally {
            synchronized (this) {
                inFlight--;
                notifyAll(); // quiesce() waits until the command's packets were completed
            }
        }
    }

    private void finishCommand(long gen, CommandBlockWrapper c, ScsiResult r, byte[] in, int outLen) {
        List<Runnable> completions = new ArrayList<>();
        synchronized (this) {
            if (gen != generation || phase != Phase.EXECUTING) return; // reset meanwhile
            inBuffer = in;
            inLength = 0;
            inSent = 0;
            if (r == null) {
                cswStatus = CommandStatusWrapper.FAILED;
                residue = c.dataLength();
            } else if (r.overrun()) {
                // Hi < Di, Ho < Do or the wrong direction (§6.7): nothing moved, phase error.
                cswStatus = CommandStatusWrapper.PHASE_ERROR;
                residue = c.dataLength();
            } else if (c.in()) {
                inLength = (int) Math.min(r.dataIn(), in.length);
                // The end of the data-in phase sets the residue; without one (length 0: the direction
                // bit is ignored, BOT 5.1) nothing was expected and nothing is left over.
                residue = c.dataLength();
                cswStatus = r.good() ? CommandStatusWrapper.PASSED : CommandStatusWrapper.FAILED;
            } else {
                long consumed = r.good() ? Math.max(0, outLen - r.residual()) : 0;
                residue = c.dataLength() - consumed;
                cswStatus = r.good() ? CommandStatusWrapper.PASSED : CommandStatusWrapper.FAILED;
            }
            if (r != null && r.status() == ScsiResult.CHECK_CONDITION) sense[c.lun()] = r.sense().clone();
            phase = c.in() && c.dataLength() > 0 ? Phase.DATA_IN : Phase.STATUS;
            serveIn(completions, endpoint(EP_IN & 0x0f, true));
        }
        completions.forEach(Runnable::run);
    }

    /** Answers waiting bulk IN packets as far as the phase allows (data, then the CSW). */
    private void serveIn(List<Runnable> completions, Descriptors.Endpoint ep) {
        while (!waitingIn.isEmpty()) {
            UsbPacket p = waitingIn.peekFirst();
            switch (phase) {
                case EXECUTING -> { return; } // NAK until the command ends
                case DATA_IN -> {
                    waitingIn.pollFirst();
                    int n = Math.min(inLength - inSent, p.data().length);
                    System.arraycopy(inBuffer, inSent, p.data(), 0, n);
                    inSent += n;
                    completions.add(() -> p.complete(UsbPacket.Status.SUCCESS, n));
                    // A short packet (or all the host asked for) ends the data phase (§6.7.2).
                    if (inSent == inLength && (n < p.data().length || inSent >= cbw.dataLength())) {
                        residue = cbw.dataLength() - inSent;
                        inBuffer = null;
                        phase = Phase.STATUS;
                    }
                }
                case STATUS -> {
                    waitingIn.pollFirst();
                    byte[] csw = new CommandStatusWrapper(cbw.tag(), residue, cswStatus).bytes();
                    int n = Math.min(csw.length, p.data().length);
                    System.arraycopy(csw, 0, p.data(), 0, n);
                    UsbPacket.Status st = n < csw.length ? UsbPacket.Status.BABBLE : UsbPacket.Status.SUCCESS;
                    completions.add(() -> p.complete(st, n));
                    phase = Phase.COMMAND;
                    cbw = null;
                }
                default -> {
                    // IN while the device expects a CBW or data-out: stall the IN pipe.
                    waitingIn.pollFirst();
                    halt(ep);
                    completions.add(() -> p.complete(UsbPacket.Status.STALL, 0));
                }
            }
        }
    }

    // ---- state for snapshots and migration ----------------------------------------------------

    /** Waits for a command in flight to end and the IN packets it served to be completed. */
    @Override
    public boolean quiesce(long timeoutNanos) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutNanos;
        synchronized (this) {
            while (inFlight > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) return false;
                java.util.concurrent.TimeUnit.NANOSECONDS.timedWait(this, left);
            }
            return true;
        }
    }

    /**
     * The BOT phase with what it holds: the CBW, data-out bytes gathered so far, data-in bytes not
     * yet sent, the CSW's status and residue; the sense data kept per LUN; the command count. A
     * command still running on the disk threads cannot be saved ({@link #quiesce} first).
     */
    @Override
    protected void saveFunction(DataOutputStream out) throws IOException {
        if (inFlight > 0) throw new UsbStateException("usb-storage: a disk command is still running");
        out.writeByte(phase.ordinal());
        out.writeBoolean(cbw != null);
        if (cbw != null) {
            out.writeInt(cbw.tag());
            out.writeInt((int) cbw.dataLength());
            out.writeBoolean(cbw.in());
            out.writeByte(cbw.lun());
            out.writeByte(cbw.cdb().length);
            out.write(cbw.cdb());
        }
        writeBytes(out, outBuffer);
        out.writeLong(outReceived);
        writeBytes(out, inBuffer);
        out.writeInt(inLength);
        out.writeInt(inSent);
        out.writeByte(cswStatus);
        out.writeLong(residue);
        out.writeByte(sense.length);
        for (byte[] s : sense) writeBytes(out, s);
        out.writeLong(commands);
    }

    @Override
    protected Runnable loadFunction(DataInputStream in, int version) throws IOException {
        int ph = (int) UsbStateException.check("usb-storage: BOT phase", in.readUnsignedByte(), 0, Phase.values().length - 1);
        Phase p = Phase.values()[ph];
        if (p == Phase.EXECUTING) throw new UsbStateException("usb-storage: state saved while a command was running");
        CommandBlockWrapper c = null;
        if (in.readBoolean()) {
            int tag = in.readInt();
            long length = in.readInt() & 0xffffffffL;
            boolean dirIn = in.readBoolean();
            int lun = (int) UsbStateException.check("usb-storage: LUN", in.readUnsignedByte(), 0, target.lunCount() - 1);
            int cbLength = (int) UsbStateException.check("usb-storage: CDB length", in.readUnsignedByte(), 1, 16);
            byte[] cdb = new byte[cbLength];
            in.readFully(cdb);
            c = new CommandBlockWrapper(tag, length, dirIn, lun, cdb);
        }
        boolean needsCbw = p == Phase.DATA_OUT || p == Phase.DATA_IN || p == Phase.STATUS;
        if (needsCbw != (c != null)) throw new UsbStateException("usb-storage: phase " + p + (needsCbw ? " without" : " with") + " a CBW");
        byte[] outBuf = readBytes(in, MAX_BUFFER);
        long outRecv = UsbStateException.check("usb-storage: data-out bytes received", in.readLong(), 0, 0xffffffffL);
        byte[] inBuf = readBytes(in, MAX_BUFFER);
        int inLen = in.readInt(), sent = in.readInt();
        if ((p == Phase.DATA_OUT) != (outBuf != null) || (p == Phase.DATA_IN) != (inBuf != null)) {
            throw new UsbStateException("usb-storage: data buffers do not fit phase " + p);
        }
        if (outBuf != null && (outBuf.length != Math.min(c.dataLength(), MAX_BUFFER) || outRecv >= c.dataLength())) {
            throw new UsbStateException("usb-storage: data-out buffer does not fit the CBW");
        }
        if (inBuf != null && (inLen < 0 || inLen > inBuf.length || sent < 0 || sent > inLen || inBuf.length > c.dataLength())) {
            throw new UsbStateException("usb-storage: data-in position " + sent + "/" + inLen + " does not fit the CBW");
        }
        int csw = (int) UsbStateException.check("usb-storage: CSW status", in.readUnsignedByte(), 0, 2);
        long res = UsbStateException.check("usb-storage: residue", in.readLong(), 0, 0xffffffffL);
        UsbStateException.check("usb-storage: LUNs", in.readUnsignedByte(), sense.length, sense.length);
        byte[][] senses = new byte[sense.length][];
        for (int i = 0; i < senses.length; i++) senses[i] = readBytes(in, 252); // fixed-format sense: at most 252 bytes
        long count = UsbStateException.check("usb-storage: commands", in.readLong(), 0, Long.MAX_VALUE);
        CommandBlockWrapper cb = c;
        return () -> {
            generation++;
            phase = p;
            cbw = cb;
            outBuffer = outBuf;
            outReceived = outRecv;
            inBuffer = inBuf;
            inLength = inLen;
            inSent = sent;
            cswStatus = csw;
            residue = res;
            System.arraycopy(senses, 0, sense, 0, sense.length);
            commands = count;
        };
    }

    private static void writeBytes(DataOutputStream out, byte[] b) throws IOException {
        out.writeInt(b == null ? -1 : b.length);
        if (b != null) out.write(b);
    }

    private static byte[] readBytes(DataInputStream in, int max) throws IOException {
        int n = (int) UsbStateException.check("usb-storage: buffer length", in.readInt(), -1, max);
        if (n < 0) return null;
        byte[] b = in.readNBytes(n);
        if (b.length != n) throw new java.io.EOFException("usb-storage state ends inside a buffer");
        return b;
    }

    @Override
    public void cancel(UsbPacket packet) {
        synchronized (this) {
            waitingIn.remove(packet);
        }
        super.cancel(packet);
    }

    @Override
    protected void resetFunction() {
        List<UsbPacket> cancelled;
        synchronized (this) {
            generation++;
            phase = Phase.COMMAND;
            cbw = null;
            outBuffer = null;
            inBuffer = null;
            java.util.Arrays.fill(sense, null);
            cancelled = new ArrayList<>(waitingIn);
            waitingIn.clear();
        }
        for (UsbPacket p : cancelled) p.complete(UsbPacket.Status.CANCELLED, 0);
    }
}
