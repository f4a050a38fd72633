package dev.vmm.cpu;

/**
 * A 32-bit register of one CPUID leaf/subleaf (or one feature MSR) whose bits are named features.
 * The set of words is the x86 architecture's (Intel SDM vol. 2A "CPUID", AMD APM vol. 3 appendix E,
 * the KVM and VIA/Centaur leaves); the order is irrelevant.
 */
public enum FeatureWord {
    L1_EDX(0x1, 0, Reg.EDX),
    L1_ECX(0x1, 0, Reg.ECX),
    L6_EAX(0x6, 0, Reg.EAX),
    L7_0_EBX(0x7, 0, Reg.EBX),
    L7_0_ECX(0x7, 0, Reg.ECX),
    L7_0_EDX(0x7, 0, Reg.EDX),
    L7_1_EAX(0x7, 1, Reg.EAX),
    /** XSAVE instruction extensions (XSAVEOPT, XSAVEC, XGETBV with ECX=1, XSAVES, XFD). */
    LD_1_EAX(0xd, 1, Reg.EAX),
    L12_0_EAX(0x12, 0, Reg.EAX),
    L12_0_EBX(0x12, 0, Reg.EBX),
    L12_1_EAX(0x12, 1, Reg.EAX),
    L14_0_ECX(0x14, 0, Reg.ECX),
    KVM_EAX(0x40000001, 0, Reg.EAX),
    KVM_EDX(0x40000001, 0, Reg.EDX),
    E1_EDX(0x80000001, 0, Reg.EDX),
    E1_ECX(0x80000001, 0, Reg.ECX),
    E7_EDX(0x80000007, 0, Reg.EDX),
    E8_EBX(0x80000008, 0, Reg.EBX),
    /** AMD SVM revision and feature identification. */
    EA_EDX(0x8000000a, 0, Reg.EDX),
    /** VIA/Centaur PadLock. */
    C1_EDX(0xc0000001, 0, Reg.EDX),
    /** IA32_ARCH_CAPABILITIES (MSR 10AH), enumerated by CPUID.07H:EDX[29]. */
    MSR_ARCH_CAPABILITIES(0x10a),
    /** IA32_CORE_CAPABILITIES (MSR CFH), enumerated by CPUID.07H:EDX[30]. */
    MSR_CORE_CAPABILITY(0xcf),
    /** IA32_PERF_CAPABILITIES (MSR 345H), enumerated by CPUID.01H:ECX.pdcm. */
    MSR_PERF_CAPABILITIES(0x345);

    /** A CPUID output register. */
    public enum Reg { EAX, EBX, ECX, EDX }

    public final int function, index;
    public final Reg reg;
    /** For MSR-based words, the MSR; -1 for CPUID words. */
    public final int msr;

    FeatureWord(int function, int index, Reg reg) {
        this.function = function; this.index = index; this.reg = reg; this.msr = -1;
    }

    FeatureWord(int msr) {
        this.function = -1; this.index = 0; this.reg = null; this.msr = msr;
    }

    public boolean isCpuid() { return msr < 0; }

    /** Whether the leaf has subleaves (KVM_CPUID_FLAG_SIGNIFCANT_INDEX). */
    public boolean indexed() {
        return function == 0x7 || function == 0xd || function == 0x12 || function == 0x14;
    }

    /**
     * How QEMU names the place of a bit in its warnings: {@code CPUID.07H:EBX}, {@code CPUID.80000001H:ECX},
     * {@code MSR(10AH)}. (QEMU prints the leaf without the subleaf.)
     */
    public String location() {
        if (!isCpuid()) return String.format("MSR(%02XH)", msr);
        return String.format("CPUID.%02XH:%s", function, reg);
    }
}
