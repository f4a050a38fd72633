package dev.vmm.chipset.acpi;

import java.io.ByteArrayOutputStream;

/**
 * The DSDT objects that drive {@link AcpiCpuHotplug}: {@code \_SB.CPUS} (ACPI0010 processor
 * container) with the register block as an OperationRegion, helper methods taking a CPU index
 * ({@code CSTA}, {@code CEJX}, {@code COST}, {@code CTFY}) and the event scan {@code CSCN}; one
 * {@code \_SB.CPUS.Cxxx} (ACPI0007) per possible CPU with {@code _STA}/{@code _MAT}/{@code _EJ0}/
 * {@code _OST}; and {@code \_GPE._E02} calling {@code CSCN} (GPE bit {@link AcpiCpuHotplug#GPE_BIT}).
 *
 * <p>The register names follow the interface; the AML is written here from the ACPI 6.4 grammar
 * (section 20), with {@link AmlBuilder} for the named objects and a few opcodes of its own for the
 * method bodies. {@code CSCN} handles at most two events per possible CPU per GPE, so a misbehaving
 * register block cannot make the guest's interpreter loop forever.
 */
final class CpuHotplugAml {
    // Opcodes (ACPI 6.4 section 20.3) used in method bodies.
    private static final int LOCAL0 = 0x60, ARG0 = 0x68, STORE = 0x70, INCREMENT = 0x75, NOTIFY = 0x86,
            LAND = 0x90, LEQUAL = 0x93, LLESS = 0x95, IF = 0xa0, ELSE = 0xa1, WHILE = 0xa2, RETURN = 0xa4;
    private static final int EXT = 0x5b, MUTEX = 0x01, ACQUIRE = 0x23, RELEASE = 0x27, OP_REGION = 0x80, FIELD = 0x81;
    private static final int SYSTEM_IO = 1;

    private CpuHotplugAml() { }

    static String cpuName(int index) {
        return String.format("C%03X", index);
    }

    /** The body to put inside {@code Scope(\_SB)}: Device(CPUS) { ... }. */
    static void cpus(AmlBuilder sb, int ioBase, int[] apicIds) {
        sb.device("CPUS", d -> {
            d.name("_HID", AmlBuilder.string("ACPI0010"));
            d.name("_CID", AmlBuilder.eisaId("PNP0A05"));
            d.raw(cat(bytes(EXT, MUTEX), AmlBuilder.nameString("CPLK"), bytes(0)));
            d.raw(cat(bytes(EXT, OP_REGION), AmlBuilder.nameString("PRST"), bytes(SYSTEM_IO),
                    data(ioBase), data(AcpiCpuHotplug.SIZE)));
            // Byte fields at offset 4 (flags, status on read / control on write) and 5 (command).
            d.raw(field(0x41, // ByteAcc, NoLock, WriteAsZeros: writing one control bit never repeats another
                    reserved(32), named("CPEN", 1), named("CINS", 1), named("CRMV", 1), named("CEJ0", 1),
                    named("CEJF", 1), reserved(3), named("CCMD", 8)));
            // DWord fields: selector at 0, command data at 8.
            d.raw(field(0x03, named("CSEL", 32), reserved(32), named("CDAT", 32)));

            // CSTA(index): 0xF when the CPU is enabled, else 0.
            d.method("CSTA", 1, true, m -> m.raw(cat(
                    acquire(), store(bytes(ARG0), name("CSEL")), store(zero(), bytes(LOCAL0)),
                    ifThen(lequal(name("CPEN"), one()), store(data(0xf), bytes(LOCAL0))),
                    release(), bytes(RETURN, LOCAL0))));
            // CEJX(index): eject.
            d.method("CEJX", 1, true, m -> m.raw(cat(
                    acquire(), store(bytes(ARG0), name("CSEL")), store(one(), name("CEJ0")), release())));
            // COST(index, event, status): OST event then status (the status write reports both).
            d.method("COST", 4, true, m -> m.raw(cat(
                    acquire(), store(bytes(ARG0), name("CSEL")),
                    store(data(AcpiCpuHotplug.CMD_OST_EVENT), name("CCMD")), store(bytes(ARG0 + 1), name("CDAT")),
                    store(data(AcpiCpuHotplug.CMD_OST_STATUS), name("CCMD")), store(bytes(ARG0 + 2), name("CDAT")),
                    release())));
            // CTFY(index, type): Notify(Cxxx, type) for the CPU with that index.
            d.method("CTFY", 2, false, m -> {
                ByteArrayOutputStream body = new ByteArrayOutputStream();
                for (int i = 0; i < apicIds.length; i++) {
                    body.writeBytes(ifThen(lequal(bytes(ARG0), data(i)), cat(bytes(NOTIFY), name(cpuName(i)), bytes(ARG0 + 1))));
                }
                m.raw(body.toByteArray());
            });
            // CSCN: while a CPU has an insert (Notify 1, device check) or remove (Notify 3, eject
            // request) event, notify it and acknowledge the event; bounded by 2 x possible CPUs.
            int bound = 2 * apicIds.length;
            byte[] local1 = bytes(LOCAL0 + 1), local0 = bytes(LOCAL0);
            byte[] loopBody = cat(
                    store(zero(), local0),
                    store(zero(), name("CSEL")), store(data(AcpiCpuHotplug.CMD_NEXT_EVENT), name("CCMD")),
                    ifThen(lequal(name("CINS"), one()), cat(
                            call("CTFY", name("CDAT"), one()), store(one(), name("CINS")), store(one(), local0))),
                    elseBody(ifThen(lequal(name("CRMV"), one()), cat(
                            call("CTFY", name("CDAT"), data(3)), store(one(), name("CRMV")), store(one(), local0)))),
                    bytes(INCREMENT, LOCAL0 + 1));
            d.method("CSCN", 0, true, m -> m.raw(cat(
                    acquire(), store(zero(), local1), store(one(), local0),
                    pkg(WHILE, cat(land(local0, lless(local1, data(bound))), loopBody)),
                    release())));

            for (int i = 0; i < apicIds.length; i++) {
                int index = i;
                d.device(cpuName(i), c -> {
                    c.name("_HID", AmlBuilder.string("ACPI0007"));
                    c.name("_UID", AmlBuilder.integer(index));
                    c.method("_STA", 0, false, m -> m.raw(cat(bytes(RETURN), call("CSTA", data(index)))));
                    // Processor Local APIC structure (MADT type 0), enabled: what Linux reads at hot-add.
                    c.name("_MAT", AmlBuilder.buffer(new byte[] {0, 8, (byte) index, (byte) apicIds[index], 1, 0, 0, 0}));
                    c.method("_EJ0", 1, false, m -> m.raw(call("CEJX", data(index))));
                    c.method("_OST", 3, false, m -> m.raw(call("COST", data(index), bytes(ARG0), bytes(ARG0 + 1), bytes(ARG0 + 2))));
                });
            }
        });
    }

    /** {@code Scope(\_GPE) { Method(_E02) { \_SB.CPUS.CSCN() } }}, to put at the DSDT's root. */
    static void gpe(AmlBuilder root) {
        root.scope("\\_GPE", g -> g.method("_E0" + AcpiCpuHotplug.GPE_BIT, 0, false,
                m -> m.raw(AmlBuilder.nameString("\\_SB.CPUS.CSCN"))));
    }

    // ---- encoders (package-private: PciHotplugAml writes its method bodies with them too) ----

    static byte[] acquire() { return acquire("CPLK"); }

    static byte[] release() { return release("CPLK"); }

    static byte[] acquire(String mutex) { return cat(bytes(EXT, ACQUIRE), name(mutex), bytes(0xff, 0xff)); }

    static byte[] release(String mutex) { return cat(bytes(EXT, RELEASE), name(mutex)); }

    static byte[] mutex(String mutex) { return cat(bytes(EXT, MUTEX), name(mutex), bytes(0)); }

    static byte[] systemIoRegion(String region, int base, int length) {
        return cat(bytes(EXT, OP_REGION), name(region), bytes(SYSTEM_IO), data(base), data(length));
    }

    static byte[] store(byte[] value, byte[] target) { return cat(bytes(STORE), value, target); }

    static byte[] lequal(byte[] a, byte[] b) { return cat(bytes(LEQUAL), a, b); }

    static byte[] lless(byte[] a, byte[] b) { return cat(bytes(LLESS), a, b); }

    static byte[] land(byte[] a, byte[] b) { return cat(bytes(LAND), a, b); }

    static byte[] ifThen(byte[] predicate, byte[] body) { return pkg(IF, cat(predicate, body)); }

    static byte[] elseBody(byte[] body) { return pkg(ELSE, body); }

    static byte[] call(String method, byte[]... args) { return cat(name(method), cat(args)); }

    static byte[] name(String n) { return AmlBuilder.nameString(n); }

    static byte[] zero() { return bytes(0x00); }

    static byte[] one() { return bytes(0x01); }

    static byte[] data(long v) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        AmlBuilder.integer(v).encodeTo(o);
        return o.toByteArray();
    }

    static byte[] pkg(int op, byte[] content) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.write(op);
        AmlBuilder.writeWithPkgLength(o, content);
        return o.toByteArray();
    }

    /** Field(PRST, flags) { elements }. */
    static byte[] field(int flags, byte[]... elements) {
        return field("PRST", flags, elements);
    }

    /** Field(region, flags) { elements }. */
    static byte[] field(String region, int flags, byte[]... elements) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.write(EXT);
        o.write(FIELD);
        AmlBuilder.writeWithPkgLength(o, cat(name(region), bytes(flags), cat(elements)));
        return o.toByteArray();
    }

    static byte[] named(String seg, int bits) { return cat(seg.getBytes(java.nio.charset.StandardCharsets.US_ASCII), bitLength(bits)); }

    static byte[] reserved(int bits) { return cat(bytes(0), bitLength(bits)); }

    /** A field element's length is a PkgLength counting bits; all ours fit in one byte (< 64). */
    static byte[] bitLength(int bits) {
        if (bits >= 64) throw new IllegalArgumentException("field element too long: " + bits);
        return bytes(bits);
    }

    static byte[] bytes(int... b) {
        byte[] r = new byte[b.length];
        for (int i = 0; i < b.length; i++) r[i] = (byte) b[i];
        return r;
    }

    static byte[] cat(byte[]... parts) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] p : parts) o.writeBytes(p);
        return o.toByteArray();
    }
}
