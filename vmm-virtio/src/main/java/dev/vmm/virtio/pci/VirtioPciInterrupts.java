package dev.vmm.virtio.pci;

import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.pci.MsixTable;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.virtio.transport.VirtioCommonConfig;

import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.function.Supplier;

/**
 * How a virtio-pci function interrupts its driver (virtio 1.x §4.1.4.5, §4.1.5.3-4): with MSI-X
 * enabled a queue signals its queue_msix_vector through {@link MsixTable#trigger} (which handles
 * masking and the PBA; NO_VECTOR means no interrupt), configuration changes the config_msix_vector;
 * otherwise it sets ISR bit 0 (bit 1 for configuration changes) and asserts INTx until the driver
 * reads the ISR, which clears it.
 *
 * <p>Device I/O threads call {@link #usedBuffer} and {@link #configChange} without the transport
 * lock: the vectors are in an atomic array / volatile, the ISR and the INTx level have their own
 * lock.
 */
final class VirtioPciInterrupts implements VirtioCommonConfig.Signals {
    /** "No MSI-X vector" in config_msix_vector / queue_msix_vector. */
    static final int NO_VECTOR = VirtioPciDevice.NO_VECTOR;

    private final MsixTable msixTable;
    private final Supplier<PciFunction> function;
    private final AtomicIntegerArray queueVectors;
    private volatile int configVector = NO_VECTOR;
    /** Guards {@link #isr} together with the INTx level. */
    private final Object intxLock = new Object();
    private int isr;

    VirtioPciInterrupts(MsixTable msixTable, int queueCount, Supplier<PciFunction> function) {
        this.msixTable = msixTable;
        this.function = function;
        this.queueVectors = new AtomicIntegerArray(queueCount);
        for (int i = 0; i < queueCount; i++) queueVectors.set(i, NO_VECTOR);
    }

    // ---- vectors (registers of the common configuration structure) -----------------------------

    int queueVector(int queue) { return queueVectors.get(queue); }

    /** Maps queue {@code queue} to {@code value} if the table has it, else NO_VECTOR (how the spec lets a device refuse). */
    void setQueueVector(int queue, int value) { queueVectors.set(queue, acceptVector(value)); }

    int configVector() { return configVector; }

    void setConfigVector(int value) { configVector = acceptVector(value); }

    private int acceptVector(int value) {
        value &= 0xFFFF;
        return value < msixTable.vectors() ? value : NO_VECTOR;
    }

    /** A saved mapping, already checked against the table size. */
    void restoreVectors(int[] queues, int config) {
        for (int i = 0; i < queues.length; i++) queueVectors.set(i, queues[i]);
        configVector = config;
    }

    // ---- signalling -----------------------------------------------------------------------------

    @Override
    public void usedBuffer(int queue) {
        int vector = queueVectors.get(queue);
        if (vector != NO_VECTOR) {
            if (msixTable.trigger(vector)) return;                  // MSI-X on: delivered or left pending
        } else if (msixTable.isEnabled()) {
            return;                                                 // MSI-X on without a vector: the driver wants no interrupt
        }
        raiseIntx(VirtioPciDevice.ISR_QUEUE);
    }

    @Override
    public void configChange() {
        int vector = configVector;
        if (vector != NO_VECTOR) {
            if (msixTable.trigger(vector)) return;
        } else if (msixTable.isEnabled()) {
            return;
        }
        raiseIntx(VirtioPciDevice.ISR_CONFIG);
    }

    /** Device reset: every vector NO_VECTOR, ISR clear, INTx low. */
    @Override
    public void reset() {
        for (int i = 0; i < queueVectors.length(); i++) queueVectors.set(i, NO_VECTOR);
        configVector = NO_VECTOR;
        synchronized (intxLock) {
            isr = 0;
            setIntx(false);
        }
    }

    private void raiseIntx(int bit) {
        synchronized (intxLock) {
            isr |= bit;
            setIntx(true);
        }
    }

    /** The ISR register is read-to-clear, and reading it is how the driver acknowledges INTx. */
    long readAndClearIsr() {
        synchronized (intxLock) {
            int v = isr;
            isr = 0;
            if (v != 0) setIntx(false);
            return v;
        }
    }

    /** The ISR without clearing it. */
    int isr() {
        synchronized (intxLock) {
            return isr;
        }
    }

    /** A saved ISR, with the INTx level it implies. */
    void restoreIsr(int value) {
        synchronized (intxLock) {
            isr = value;
            setIntx(isr != 0);
        }
    }

    private void setIntx(boolean level) {
        PciFunction f = function.get();
        InterruptLine line = f == null ? null : f.intx();
        if (line != null) line.set(level);
    }
}
