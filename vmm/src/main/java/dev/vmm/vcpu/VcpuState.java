package dev.vmm.vcpu;

import dev.vmm.ffm.kvm.VcpuFd;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import static dev.vmm.ffm.kvm.VcpuBlob.*;

/**
 * Everything KVM holds for one vCPU, as saved for snapshots and migration: registers, segment
 * and control registers, FPU/XSAVE, XCRs, MSRs (incl. TSC and kvmclock), LAPIC, pending events,
 * debug registers and the MP state. Structures are kept as KVM's own bytes (their layouts are
 * checked against the headers), so a round trip is exact.
 */
public record VcpuState(int id, byte[] regs, byte[] sregs, byte[] fpu, byte[] xsave, byte[] xcrs,
                        List<VcpuFd.Msr> msrs, byte[] lapic, byte[] events, byte[] debugRegs, int mpState) {
    public static final int VERSION = 1;

    /** Reads the state of a vCPU that is not running (paused machine). */
    public static VcpuState capture(VcpuFd fd, List<Integer> msrIndices) {
        return new VcpuState(fd.id(), fd.get(REGS), fd.get(SREGS), fd.get(FPU), fd.get(XSAVE), fd.get(XCRS),
                fd.getMsrs(msrIndices), fd.get(LAPIC), fd.get(VCPU_EVENTS), fd.get(DEBUGREGS), fd.getMpState());
    }

    /** Writes it back, in the order KVM needs: MP state and registers first, LAPIC after the APIC base MSR's sregs, events last. */
    public void restore(VcpuFd fd) {
        fd.setMpState(mpState);
        fd.set(REGS, regs);
        fd.set(SREGS, sregs);
        fd.set(XSAVE, xsave);
        fd.set(FPU, fpu);
        fd.set(XCRS, xcrs);
        fd.set(DEBUGREGS, debugRegs);
        fd.set(LAPIC, lapic);
        fd.setMsrs(msrs);
        fd.set(VCPU_EVENTS, events);
    }

    public void write(DataOutputStream out) throws IOException {
        out.writeInt(id);
        for (byte[] b : new byte[][] {regs, sregs, fpu, xsave, xcrs, lapic, events, debugRegs}) {
            out.writeInt(b.length);
            out.write(b);
        }
        out.writeInt(msrs.size());
        for (VcpuFd.Msr m : msrs) {
            out.writeInt(m.index());
            out.writeLong(m.data());
        }
        out.writeInt(mpState);
    }

    public static VcpuState read(DataInputStream in) throws IOException {
        int id = in.readInt();
        byte[][] b = new byte[8][];
        for (int i = 0; i < b.length; i++) b[i] = blob(in, 64 * 1024);
        int n = in.readInt();
        if (n < 0 || n > 4096) throw new IOException("implausible MSR count " + n);
        List<VcpuFd.Msr> msrs = new ArrayList<>(n);
        for (int i = 0; i < n; i++) msrs.add(new VcpuFd.Msr(in.readInt(), in.readLong()));
        int mp = in.readInt();
        return new VcpuState(id, b[0], b[1], b[2], b[3], b[4], msrs, b[5], b[6], b[7], mp);
    }

    static byte[] blob(DataInputStream in, int max) throws IOException {
        int len = in.readInt();
        if (len < 0 || len > max) throw new IOException("implausible section length " + len);
        byte[] b = new byte[len];
        in.readFully(b);
        return b;
    }

    /**
     * The MSRs worth saving: KVM's index list, minus those this host refuses to read (a PVM host
     * lists some it cannot return). Probed once per machine on the boot vCPU.
     */
    public static List<Integer> saveableMsrs(VcpuFd fd, List<Integer> kvmList) {
        List<Integer> ok = new ArrayList<>();
        for (int idx : kvmList) {
            try {
                if (fd.getMsrs(List.of(idx)).size() == 1) ok.add(idx);
            } catch (RuntimeException e) {
                // not readable here: skip
            }
        }
        return ok;
    }
}
