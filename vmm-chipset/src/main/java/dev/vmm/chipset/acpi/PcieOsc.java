package dev.vmm.chipset.acpi;

import java.io.ByteArrayOutputStream;

/**
 * The PCI Express host bridge's {@code _OSC} method (PCI Firmware Specification 3.2, 4.5), as AML:
 *
 * <pre>
 * Method (_OSC, 4, NotSerialized) {
 *     CreateDWordField (Arg3, Zero, CDW1)
 *     If (LEqual (Arg0, ToUUID ("33db4d5b-1ff7-401c-9657-7441c03dd766"))) {
 *         CreateDWordField (Arg3, 0x08, CDW3)
 *         Store (CDW3, Local0)
 *         And (Local0, 0x1F, Local0)          // native hot-plug, SHPC, PME, AER, PCIe capability
 *         If (LNotEqual (Arg1, One)) { Or (CDW1, 0x08, CDW1) }         // unknown revision
 *         If (LNotEqual (CDW3, Local0)) { Or (CDW1, 0x10, CDW1) }      // some control masked
 *         Store (Local0, CDW3)
 *     } Else {
 *         Or (CDW1, 0x04, CDW1)                // unrecognised UUID
 *     }
 *     Return (Arg3)
 * }
 * </pre>
 *
 * i.e. the OS is granted every control it asks for among the five the platform has (ACPI hot-plug
 * and firmware-first error handling do not exist here). Encoded here with the opcodes of ACPI 6.4
 * section 20 because {@link AmlBuilder} only offers data objects.
 */
final class PcieOsc {
    private PcieOsc() { }

    static final int ARG0 = 0x68, ARG1 = 0x69, ARG3 = 0x6b, LOCAL0 = 0x60;
    static final int CREATE_DWORD_FIELD = 0x8a, IF = 0xa0, ELSE = 0xa1, LEQUAL = 0x93, LNOT = 0x92,
            AND = 0x7b, OR = 0x7d, STORE = 0x70, RETURN = 0xa4, BUFFER = 0x11;
    /** ToUUID("33DB4D5B-1FF7-401C-9657-7441C03DD766"): first three fields little-endian. */
    static final byte[] PCI_HOST_BRIDGE_UUID = {
            0x5b, 0x4d, (byte) 0xdb, 0x33, (byte) 0xf7, 0x1f, 0x1c, 0x40,
            (byte) 0x96, 0x57, 0x74, 0x41, (byte) 0xc0, 0x3d, (byte) 0xd7, 0x66};

    static byte[] method() {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(AmlBuilder.nameString("_OSC"));
        body.write(4);                                           // 4 arguments, not serialized, sync 0
        body.writeBytes(createDword(0, "CDW1"));

        ByteArrayOutputStream then = new ByteArrayOutputStream();
        then.writeBytes(createDword(8, "CDW3"));
        then.write(STORE); then.writeBytes(name("CDW3")); then.write(LOCAL0);
        then.write(AND); then.write(LOCAL0); then.write(0x0a); then.write(0x1f); then.write(LOCAL0);
        ByteArrayOutputStream badRev = new ByteArrayOutputStream();
        badRev.write(LNOT); badRev.write(LEQUAL); badRev.write(ARG1); badRev.write(0x01);
        then.writeBytes(ifBlock(badRev.toByteArray(), orCdw1(0x08)));
        ByteArrayOutputStream masked = new ByteArrayOutputStream();
        masked.write(LNOT); masked.write(LEQUAL); masked.writeBytes(name("CDW3")); masked.write(LOCAL0);
        then.writeBytes(ifBlock(masked.toByteArray(), orCdw1(0x10)));
        then.write(STORE); then.write(LOCAL0); then.writeBytes(name("CDW3"));

        ByteArrayOutputStream pred = new ByteArrayOutputStream();
        pred.write(LEQUAL); pred.write(ARG0);
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        buf.write(0x0a); buf.write(16);                          // BufferSize: ByteConst 16
        buf.writeBytes(PCI_HOST_BRIDGE_UUID);
        pred.write(BUFFER);
        AmlBuilder.writeWithPkgLength(pred, buf.toByteArray());
        body.writeBytes(ifBlock(pred.toByteArray(), then.toByteArray()));
        body.write(ELSE);
        AmlBuilder.writeWithPkgLength(body, orCdw1(0x04));
        body.write(RETURN); body.write(ARG3);

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0x14);                                         // MethodOp
        AmlBuilder.writeWithPkgLength(out, body.toByteArray());
        return out.toByteArray();
    }

    private static byte[] createDword(int index, String field) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(CREATE_DWORD_FIELD);
        b.write(ARG3);
        b.writeBytes(AmlBuilder.integer(index).encode());
        b.writeBytes(name(field));
        return b.toByteArray();
    }

    private static byte[] orCdw1(int bits) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(OR); b.writeBytes(name("CDW1")); b.write(0x0a); b.write(bits); b.writeBytes(name("CDW1"));
        return b.toByteArray();
    }

    private static byte[] ifBlock(byte[] predicate, byte[] terms) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(IF);
        byte[] content = new byte[predicate.length + terms.length];
        System.arraycopy(predicate, 0, content, 0, predicate.length);
        System.arraycopy(terms, 0, content, predicate.length, terms.length);
        AmlBuilder.writeWithPkgLength(b, content);
        return b.toByteArray();
    }

    private static byte[] name(String seg) {
        return AmlBuilder.nameString(seg);
    }
}
