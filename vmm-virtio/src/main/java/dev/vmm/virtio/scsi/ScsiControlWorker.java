package dev.vmm.virtio.scsi;

import dev.vmm.scsi.ScsiTarget;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.io.KickWatch;
import dev.vmm.virtio.queue.DescriptorChain;
import dev.vmm.virtio.queue.QueueException;
import dev.vmm.virtio.queue.SplitQueue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static dev.vmm.virtio.scsi.VirtioScsi.*;

/**
 * The control and event queues, on I/O thread 0.
 *
 * <p>Task management: commands cannot be cancelled once a worker runs them (a synchronous disk
 * call), so every abort / reset answers only when the commands it concerns have completed
 * (FUNCTION_COMPLETE; the spec's guarantee that the affected requests are done then holds). It
 * waits by polling the per-LUN in-flight counts every millisecond; after 30 s it gives up with
 * VIRTIO_SCSI_S_FAILURE. ABORT TASK, ABORT TASK SET, CLEAR TASK SET and LOGICAL UNIT RESET wait
 * for their LUN, I_T NEXUS RESET for every LUN; QUERY TASK (SET) answer FUNCTION_SUCCEEDED while
 * the LUN has commands in flight, else FUNCTION_COMPLETE; CLEAR ACA and unknown functions are
 * FUNCTION_REJECTED. Asynchronous notification query/subscribe: no event classes supported
 * (event_actual 0), response OK.
 *
 * <p>Events: queued by {@link #postEvent}, written into driver buffers as they arrive; at most
 * {@link #MAX_PENDING_EVENTS} wait, beyond that the oldest is dropped and the next one delivered
 * carries VIRTIO_SCSI_T_EVENTS_MISSED.
 */
final class ScsiControlWorker {
    static final int MAX_PENDING_EVENTS = 64;
    static final long TMF_TIMEOUT_NANOS = 30_000_000_000L;
    private static final long POLL_NANOS = 1_000_000L;

    private record Parked(DescriptorChain chain, int lun, long deadline) { }

    private final VirtioScsi device;
    private final ScsiTarget target;
    private final SplitQueue cq;
    private final SplitQueue eq;
    private final IoThread thread;
    private final VirtioInterrupt irq;
    private final KickWatch ctlKick;
    private final KickWatch evtKick;
    private final List<Parked> parked = new ArrayList<>();
    private final ArrayDeque<int[]> events = new ArrayDeque<>();
    private boolean eventsMissed;
    private boolean pollScheduled;
    private boolean ctlNotify;
    private boolean evtNotify;
    private boolean broken;
    private boolean stopping;

    ScsiControlWorker(VirtioScsi device, SplitQueue cq, SplitQueue eq, IoThread thread, VirtioInterrupt irq, int ctlFd, int evtFd) {
        this.device = device;
        this.target = device.target();
        this.cq = cq;
        this.eq = eq;
        this.thread = thread;
        this.irq = irq;
        this.ctlKick = new KickWatch(thread, ctlFd);
        this.evtKick = new KickWatch(thread, evtFd);
    }

    void start() {
        if (cq != null) ctlKick.watch(this::processControl);
        if (eq != null) evtKick.watch(this::deliverEvents);
        processControl();
        deliverEvents(); // restored events, if the driver already posted buffers
    }

    CompletableFuture<Void> stop() {
        return thread.submit(() -> {
            stopWatching();
            parked.clear(); // never answered: the driver is resetting the device
            return null;
        });
    }

    /** What {@link #quiesce} leaves for the saved state: events not yet delivered, and the missed flag. */
    record Pending(List<int[]> events, boolean missed) { }

    /**
     * For a snapshot (request queues already drained, so no task-management request still waits
     * for a command): answers the parked TMFs, signals, and stops. Returns the events the driver
     * has not received yet (they wait for event buffers; no buffer is popped before an event
     * needs it, so none is held).
     */
    CompletableFuture<Pending> quiesce() {
        return thread.submit(() -> {
            try {
                if (!broken && !stopping) {
                    for (Parked p : parked) answer(p.chain(), new byte[] {(byte) (device.busy(p.lun()) ? S_FAILURE : S_FUNCTION_COMPLETE)});
                    parked.clear();
                    if (cq != null && cq.needsNotification()) irq.signalUsedBuffer(CONTROL_QUEUE);
                }
            } catch (QueueException e) {
                queueError(CONTROL_QUEUE, e.getMessage());
            }
            Pending p = new Pending(List.copyOf(events), eventsMissed);
            stopWatching();
            parked.clear();
            return p;
        });
    }

    private void stopWatching() {
        stopping = true;
        ctlKick.unwatch();
        evtKick.unwatch();
        events.clear();
    }

    /** A restored device's undelivered events; before {@link #start}. */
    void restorePending(Pending p) {
        events.addAll(p.events());
        eventsMissed = p.missed();
    }

    // ---- control queue ------------------------------------------------------------------------

    private void processControl() {
        if (cq == null || broken || stopping) return;
        try {
            DescriptorChain c;
            while (!broken && (c = cq.pop()) != null) {
                try {
                    handleControl(c);
                } catch (RuntimeException e) {
                    queueError(CONTROL_QUEUE, "control request " + c.head() + " failed: " + e);
                }
            }
        } catch (QueueException e) {
            queueError(CONTROL_QUEUE, e.getMessage());
        }
    }

    private void handleControl(DescriptorChain c) throws QueueException {
        byte[] req = new byte[(int) Math.min(c.readableBytes(), 24)];
        c.readFromChain(0, req);
        MemorySegment m = MemorySegment.ofArray(req);
        int type = req.length >= 4 ? m.get(ValueLayout.JAVA_INT_UNALIGNED, 0) : -1;
        if (type == T_AN_QUERY || type == T_AN_SUBSCRIBE) {
            if (c.writableBytes() < 5) {
                queueError(CONTROL_QUEUE, "AN request (head " + c.head() + ") has " + c.writableBytes() + " writable bytes, needs 5");
                return;
            }
            int response = req.length < 16 ? S_FAILURE : VirtioScsiLun.target(lunOf(req, 4)) != 0 ? S_BAD_TARGET : S_OK;
            answer(c, new byte[] {0, 0, 0, 0, (byte) response}); // event_actual 0: no event class supported
            return;
        }
        if (c.writableBytes() < 1) {
            queueError(CONTROL_QUEUE, "control request (head " + c.head() + ") has no writable response byte");
            return;
        }
        if (type != T_TMF || req.length < 24) {
            answer(c, new byte[] {(byte) S_FAILURE}); // unknown type or short TMF request
            return;
        }
        int subtype = m.get(ValueLayout.JAVA_INT_UNALIGNED, 4);
        byte[] lunField = lunOf(req, 8);
        if (VirtioScsiLun.target(lunField) != 0) {
            answer(c, new byte[] {(byte) S_BAD_TARGET});
            return;
        }
        int lun = VirtioScsiLun.lun(lunField);
        switch (subtype) {
            case TMF_ABORT_TASK, TMF_ABORT_TASK_SET, TMF_CLEAR_TASK_SET, TMF_LOGICAL_UNIT_RESET -> {
                if (!target.hasLun(lun)) answer(c, new byte[] {(byte) S_INCORRECT_LUN});
                else waitThenAnswer(c, lun);
            }
            case TMF_I_T_NEXUS_RESET -> waitThenAnswer(c, -1);
            case TMF_QUERY_TASK, TMF_QUERY_TASK_SET -> {
                if (!target.hasLun(lun)) answer(c, new byte[] {(byte) S_INCORRECT_LUN});
                else answer(c, new byte[] {(byte) (device.busy(lun) ? S_FUNCTION_SUCCEEDED : S_FUNCTION_COMPLETE)});
            }
            default -> answer(c, new byte[] {(byte) S_FUNCTION_REJECTED}); // CLEAR ACA (no ACA), unknown
        }
    }

    private static byte[] lunOf(byte[] req, int at) {
        byte[] l = new byte[8];
        System.arraycopy(req, at, l, 0, 8);
        return l;
    }

    /** FUNCTION COMPLETE once no command of {@code lun} (-1: any) is in flight. */
    private void waitThenAnswer(DescriptorChain c, int lun) throws QueueException {
        if (!device.busy(lun)) {
            answer(c, new byte[] {(byte) S_FUNCTION_COMPLETE});
            return;
        }
        parked.add(new Parked(c, lun, System.nanoTime() + TMF_TIMEOUT_NANOS));
        schedulePoll();
    }

    private void schedulePoll() {
        if (!pollScheduled) {
            pollScheduled = true;
            thread.schedule(System.nanoTime() + POLL_NANOS, this::pollParked);
        }
    }

    private void pollParked() {
        pollScheduled = false;
        if (broken || stopping) return;
        long now = System.nanoTime();
        try {
            for (Iterator<Parked> it = parked.iterator(); it.hasNext(); ) {
                Parked p = it.next();
                if (!device.busy(p.lun())) {
                    it.remove();
                    answer(p.chain(), new byte[] {(byte) S_FUNCTION_COMPLETE});
                } else if (now - p.deadline() > 0) {
                    it.remove();
                    device.log("virtio-scsi: task management on LUN " + p.lun() + " timed out waiting for commands in flight");
                    answer(p.chain(), new byte[] {(byte) S_FAILURE});
                }
            }
        } catch (QueueException e) {
            queueError(CONTROL_QUEUE, e.getMessage());
            return;
        }
        if (!parked.isEmpty()) schedulePoll();
    }

    private void answer(DescriptorChain c, byte[] resp) throws QueueException {
        int n = c.writeToChain(0, resp);
        cq.addUsed(c.head(), n);
        if (!ctlNotify) {
            ctlNotify = true;
            thread.atRoundEnd(() -> notifyDriver(cq, CONTROL_QUEUE));
        }
    }

    // ---- event queue ------------------------------------------------------------------------

    /** Thread-safe: queues an event for delivery on the I/O thread. */
    void postEvent(int event, int lun, int reason) {
        thread.execute(() -> {
            if (stopping || eq == null) return;
            if (events.size() >= MAX_PENDING_EVENTS) {
                events.poll();
                eventsMissed = true;
            }
            events.add(new int[] {event, lun, reason});
            deliverEvents();
        });
    }

    private void deliverEvents() {
        if (eq == null || broken || stopping) return;
        try {
            while (!events.isEmpty()) {
                DescriptorChain c = eq.pop();
                if (c == null) return; // wait for the driver to add buffers (it kicks)
                if (c.writableBytes() < EVENT_INFO_SIZE) {
                    queueError(EVENT_QUEUE, "event buffer (head " + c.head() + ") is " + c.writableBytes() + " bytes, needs " + EVENT_INFO_SIZE);
                    return;
                }
                int[] e = events.poll();
                byte[] ev = new byte[EVENT_INFO_SIZE];
                MemorySegment m = MemorySegment.ofArray(ev);
                m.set(ValueLayout.JAVA_INT_UNALIGNED, 0, e[0] | (eventsMissed ? T_EVENTS_MISSED : 0));
                System.arraycopy(VirtioScsiLun.encode(0, Math.max(0, e[1])), 0, ev, 4, 8);
                m.set(ValueLayout.JAVA_INT_UNALIGNED, 12, e[2]);
                eventsMissed = false;
                c.writeToChain(0, ev);
                eq.addUsed(c.head(), EVENT_INFO_SIZE);
                if (!evtNotify) {
                    evtNotify = true;
                    thread.atRoundEnd(() -> notifyDriver(eq, EVENT_QUEUE));
                }
            }
        } catch (QueueException e) {
            queueError(EVENT_QUEUE, e.getMessage());
        }
    }

    // ---- common -------------------------------------------------------------------------------

    private void notifyDriver(SplitQueue q, int index) {
        if (index == CONTROL_QUEUE) ctlNotify = false; else evtNotify = false;
        if (broken || stopping) return;
        try {
            if (q.needsNotification()) irq.signalUsedBuffer(index);
        } catch (QueueException e) {
            queueError(index, e.getMessage());
        }
    }

    private void queueError(int index, String reason) {
        if (broken) return;
        broken = true;
        String msg = "virtio-scsi queue " + index + ": " + reason;
        device.log(msg + "; device needs reset");
        irq.deviceNeedsReset(msg);
    }
}
