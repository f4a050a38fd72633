package dev.vmm.ahci;

import dev.vmm.chipset.testing.QemuQtest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * QEMU 7.2's ich9-ahci (through qtest, vCPUs stopped) as the oracle for what a guest sees of a
 * port: register write semantics (CLB/FB alignment, PxIS write-1-to-clear, PxIE's mask, PxSERR,
 * PxSNTF, PxCI and PxSACT ignored while ST is off), the engine bits (FRE→FR, ST→CR), COMRESET
 * through PxSCTL.DET on a disk and on an empty port (PxSSTS, PxSIG, PxTFD and the D2H FIS with the
 * signature), GHC.HR and GHC.IE with the HBA's IS, and commands: 28-bit DMA with LBA 27:24 in the
 * device register, a count of 0 meaning 256 sectors, PIO reads (the PIO Setup FIS), a read past
 * the end (TFD, TFES, PxCI kept until ST is cleared), NCQ reads (Set Device Bits FIS, PxSACT).
 * The same script runs on both and every recorded
 * line must match, but for the differences docs/ahci.md lists (masked in {@link #masked}).
 *
 * <p>QEMU's transcript is computed once per JVM (a PIT minion runs the script on QEMU once, not for
 * every mutant).
 */
@Timeout(120)
class AhciPortQemuOracleTest {
    static final int SECTORS = 2048;
    static final byte[] DISK = diskBytes();
    private static List<String> qemuTranscript;
    static AhciScript last;

    @TempDir Path dir;

    private static byte[] diskBytes() {
        byte[] b = new byte[SECTORS * 512];
        new Random(0xA4C1).nextBytes(b);
        return b;
    }

    private synchronized List<String> qemu() throws Exception {
        if (qemuTranscript == null) {
            Path img = dir.resolve("disk.raw");
            Files.write(img, DISK);
            try (AhciTarget q = AhciTarget.qemu(img)) {
                qemuTranscript = script(q);
            } catch (AssertionError e) {
                System.err.println(String.join("\n", last.lines));
                throw e;
            }
        }
        return qemuTranscript;
    }

    /**
     * The deliberate differences (docs/ahci.md), applied to both transcripts' lines:
     * <ul>
     * <li>PxCMD.CCS (12:8): set here to the slot the HBA is issuing (AHCI 1.3.1 §3.3.7); QEMU leaves it 0.</li>
     * <li>PxIS.DPS (bit 5): set here when a PRD with the I bit is reached (§3.3.5); QEMU ignores the I bit.</li>
     * <li>While PxSCTL.DET is 1 (COMRESET held) the link is down here (PxSSTS 0, PxTFD BSY, §3.3.11);
     *     QEMU changes nothing until DET goes back to 0.</li>
     * <li>In the FISes of commands, the LBA, device and count fields: QEMU reports its IDE registers
     *     after the command (the next LBA, A0h/E0h), which ATA8-ACS leaves reserved for these outputs;
     *     the device byte of the signature FIS too (QEMU's A0h select value).</li>
     * <li>The PIO Setup FIS's D bit and E_Status (QEMU: D=0, 58h) and its transfer count (QEMU: one
     *     512-byte DRQ block; here the bytes of the whole command).</li>
     * </ul>
     */
    static String masked(String line) {
        int colon = line.indexOf(": ");
        String step = line.substring(0, colon), body = line.substring(colon + 2);
        if (body.startsWith("port ")) {
            StringBuilder sb = new StringBuilder(step).append(": ");
            for (String field : body.split(" ")) {
                int eq = field.indexOf('=');
                if (eq < 0) {
                    sb.append(field).append(' ');
                    continue;
                }
                String name = field.substring(0, eq);
                long v = Long.parseLong(field.substring(eq + 1), 16);
                if (name.equals("CMD")) v &= ~(0x1FL << AhciPort.CMD_CCS_SHIFT);
                if (name.equals("IS")) v &= ~(long) AhciPort.IS_DPS;
                if (step.equals("DET=1") && (name.equals("SSTS") || name.equals("TFD"))) {
                    sb.append(name).append("=x ");
                    continue;
                }
                sb.append(name).append('=').append(Long.toHexString(v)).append(' ');
            }
            return sb.toString().trim();
        }
        boolean signature = step.startsWith("FRE ") || step.startsWith("COMRESET ");
        if ((step.endsWith(" D2H") || step.endsWith(" PIO")) && !body.equals("00".repeat(20))) {
            char[] hex = body.toCharArray();
            int[] bytes = signature ? new int[] {7} : new int[] {4, 5, 6, 7, 8, 9, 10, 12, 13};
            for (int i : bytes) hex[2 * i] = hex[2 * i + 1] = 'x';
            if (step.endsWith(" PIO")) {
                for (int i : new int[] {1, 15, 16, 17}) hex[2 * i] = hex[2 * i + 1] = 'x';
            }
            return step + ": " + new String(hex);
        }
        return line;
    }

    @Test
    void portRegistersAndCommandsMatchQemu() throws Exception {
        QemuQtest.assumeInstalled();
        List<String> theirs = qemu();
        List<String> ours;
        try (AhciTarget m = AhciTarget.model(DISK)) {
            ours = script(m);
        }
        StringBuilder diffs = new StringBuilder();
        for (int i = 0; i < Math.max(ours.size(), theirs.size()); i++) {
            String a = i < theirs.size() ? masked(theirs.get(i)) : "(none)", b = i < ours.size() ? masked(ours.get(i)) : "(none)";
            if (!a.equals(b)) diffs.append("\nQEMU: ").append(a).append("\nours: ").append(b);
        }
        assertEquals("", diffs.toString(), "lines that differ from QEMU's");
    }

    static byte[] h2d(int command, long lba, int count, int features, int device) {
        return AhciDriver.h2d(command, lba, count, features, device);
    }

    static List<String> script(AhciTarget t) {
        AhciScript s = new AhciScript(t);
        last = s;
        // HBA reset and enable, as a driver starts.
        t.reg(AhciController.GHC, AhciController.GHC_AE | AhciController.GHC_HR);
        t.await("HBA reset", () -> (t.reg(AhciController.GHC) & AhciController.GHC_HR) == 0);
        t.reg(AhciController.GHC, AhciController.GHC_AE);
        s.regs("after HR", 0);
        // Address registers (QEMU keeps the reserved low bits a guest writes, AHCI §3.3.1-3.3.4 has them read 0:
        // AhciPortRegistersTest checks ours), interrupt enables (PxIE's reserved bits read 0).
        s.reg(0, AhciPort.CLB, (int) AhciScript.clb(0));
        s.reg(0, AhciPort.CLBU, 0);
        s.reg(0, AhciPort.FB, (int) AhciScript.fb(0));
        s.reg(0, AhciPort.FBU, 0);
        s.reg(0, AhciPort.IE, -1);
        s.reg(1, AhciPort.CLB, (int) AhciScript.clb(1));
        s.reg(1, AhciPort.FB, (int) AhciScript.fb(1));
        s.regs("addresses, IE all ones", 0);
        // (PxCI and PxSACT written while ST is off: QEMU keeps them, AHCI §3.3.13/§3.3.14 does not; AhciPortRegistersTest.)
        // FRE on: FR follows, and the device's first D2H Register FIS (its signature) arrives.
        s.clearFisArea(0);
        s.reg(0, AhciPort.CMD, s.reg(0, AhciPort.CMD) | AhciPort.CMD_FRE);
        t.await("signature", () -> s.reg(0, AhciPort.SIG) != -1);
        s.regs("FRE", 0);
        s.fises("FRE", 0);
        s.reg(0, AhciPort.IS, -1);
        // COMRESET: DET=1 then DET=0; the device's D2H FIS arrives with its signature.
        s.clearFisArea(0);
        s.reg(0, AhciPort.SCTL, 0x301);
        s.regs("DET=1", 0);
        s.reg(0, AhciPort.SCTL, 0x300);
        t.await("link up", () -> (s.reg(0, AhciPort.SSTS) & 0xF) == 3 && (s.reg(0, AhciPort.TFD) & AtaResult.BSY) == 0);
        s.regs("DET=0", 0);
        s.fises("COMRESET", 0);
        // PxIS: writing 0 changes nothing, writing the set bit clears it; PxSERR all ones.
        s.reg(0, AhciPort.IS, 0);
        s.reg(0, AhciPort.SERR, -1);
        s.regs("IS written 0", 0);
        t.reg(AhciController.GHC, AhciController.GHC_AE | AhciController.GHC_IE);
        s.regs("GHC.IE", 0);
        s.reg(0, AhciPort.IS, -1);
        s.regs("IS written all ones", 0);
        // An empty port's COMRESET: no device.
        s.reg(1, AhciPort.SCTL, 0x301);
        s.reg(1, AhciPort.SCTL, 0x300);
        s.regs("empty port COMRESET", 1);
        // ST on: CR.
        s.reg(0, AhciPort.CMD, s.reg(0, AhciPort.CMD) | AhciPort.CMD_ST);
        s.regs("ST", 0);

        // WRITE DMA (28-bit) of one sector at LBA 0x7FF: LBA 23:0 in the FIS, 27:24 from the device register
        // (0 here; the other nibble bits are ignored by a 28-bit LBA beyond the disk... kept in range).
        byte[] pattern = new byte[512];
        new Random(28).nextBytes(pattern);
        t.write(AhciScript.DATA, pattern);
        s.command(0, 1, h2d(AtaCommand.WRITE_DMA, 0x7FF, 1, 0, 0xE0), null, 0x40, new long[] {AhciScript.DATA, 512});
        s.issue(0, 1);
        s.regs("WRITE DMA", 0);
        s.note("WRITE DMA PRDBC: " + Integer.toHexString(s.prdbc(0, 1)));
        // READ DMA EXT of the last two sectors into two PRDs (second with the I bit).
        s.command(0, 2, h2d(AtaCommand.READ_DMA_EXT, SECTORS - 2, 2, 0, 0x40), null, 0,
                new long[] {AhciScript.DATA + 0x1000, 512}, new long[] {AhciScript.DATA + 0x2000, 512, 1});
        s.issue(0, 2);
        s.regs("READ DMA EXT", 0);
        s.note("READ DMA EXT PRDBC: " + Integer.toHexString(s.prdbc(0, 2)));
        s.bytes("READ DMA EXT data 1", AhciScript.DATA + 0x1000, 512);
        s.bytes("READ DMA EXT data 2", AhciScript.DATA + 0x2000, 512);
        // READ DMA of LBA 0x7FF: the sector written above.
        s.command(0, 3, h2d(AtaCommand.READ_DMA, 0x7FF, 1, 0, 0xE0), null, 0, new long[] {AhciScript.DATA + 0x3000, 512});
        s.issue(0, 3);
        s.bytes("READ DMA data", AhciScript.DATA + 0x3000, 512);
        // READ DMA with count 0: 256 sectors (ATA8-ACS §7.22.4.3).
        s.command(0, 4, h2d(AtaCommand.READ_DMA, 16, 0, 0, 0xE0), null, 0, new long[] {AhciScript.DATA + 0x10000, 256 * 512});
        s.issue(0, 4);
        s.regs("READ DMA count 0", 0);
        s.note("READ DMA count 0 PRDBC: " + Integer.toHexString(s.prdbc(0, 4)));
        s.bytes("READ DMA count 0 last sector", AhciScript.DATA + 0x10000 + 255 * 512, 512);
        // READ SECTORS (PIO data-in) of 3 sectors: the PIO Setup FIS.
        s.clearFisArea(0);
        s.command(0, 5, h2d(AtaCommand.READ_SECTORS, 100, 3, 0, 0xE0), null, 0, new long[] {AhciScript.DATA + 0x4000, 3 * 512});
        s.issue(0, 5);
        s.regs("READ SECTORS", 0);
        s.fises("READ SECTORS", 0);
        s.note("READ SECTORS PRDBC: " + Integer.toHexString(s.prdbc(0, 5)));
        s.bytes("READ SECTORS data", AhciScript.DATA + 0x4000, 3 * 512);
        // READ SECTORS EXT (PIO, 48-bit) with a count of 2.
        s.command(0, 6, h2d(AtaCommand.READ_SECTORS_EXT, SECTORS - 2, 2, 0, 0x40), null, 0, new long[] {AhciScript.DATA + 0x5000, 1024});
        s.issue(0, 6);
        s.note("READ SECTORS EXT PRDBC: " + Integer.toHexString(s.prdbc(0, 6)));
        s.bytes("READ SECTORS EXT data", AhciScript.DATA + 0x5000, 1024);

        // NCQ: READ FPDMA QUEUED tags 0 and 1 at once.
        s.clearFisArea(0);
        s.command(0, 0, AhciDriver.ncq(false, 0, 10, 1), null, 0, new long[] {AhciScript.DATA + 0x6000, 512});
        s.command(0, 1, AhciDriver.ncq(false, 1, 20, 2), null, 0, new long[] {AhciScript.DATA + 0x7000, 1024});
        s.reg(0, AhciPort.SACT, 3);
        s.reg(0, AhciPort.CI, 3);
        t.await("NCQ", () -> s.reg(0, AhciPort.SACT) == 0 || (s.reg(0, AhciPort.IS) & AhciPort.IS_TFES) != 0);
        s.regs("NCQ", 0);
        s.bytes("NCQ data 0", AhciScript.DATA + 0x6000, 512);
        s.bytes("NCQ data 1", AhciScript.DATA + 0x7000, 1024);
        // One queued command alone (the order two complete in is the device's): its Set Device Bits FIS.
        s.command(0, 5, AhciDriver.ncq(false, 5, 30, 1), null, 0, new long[] {AhciScript.DATA + 0x8000, 512});
        s.reg(0, AhciPort.SACT, 1 << 5);
        s.reg(0, AhciPort.CI, 1 << 5);
        t.await("NCQ tag 5", () -> s.reg(0, AhciPort.SACT) == 0 || (s.reg(0, AhciPort.IS) & AhciPort.IS_TFES) != 0);
        s.regs("NCQ tag 5", 0);
        s.bytes("NCQ tag 5 SDB", AhciScript.fb(0) + Fis.RX_SDB, 8);
        s.bytes("NCQ tag 5 data", AhciScript.DATA + 0x8000, 512);

        // A read past the end: error, TFES, the slot stays in PxCI; clearing ST drops it.
        s.reg(0, AhciPort.IS, -1);
        s.command(0, 7, h2d(AtaCommand.READ_DMA_EXT, SECTORS - 1, 2, 0, 0x40), null, 0, new long[] {AhciScript.DATA, 1024});
        s.issue(0, 7);
        s.regs("read past the end", 0);
        s.reg(0, AhciPort.CMD, s.reg(0, AhciPort.CMD) & ~AhciPort.CMD_ST);
        t.await("CR clear", () -> (s.reg(0, AhciPort.CMD) & AhciPort.CMD_CR) == 0);
        s.regs("ST cleared", 0);
        s.reg(0, AhciPort.IS, -1);
        s.reg(0, AhciPort.CMD, s.reg(0, AhciPort.CMD) | AhciPort.CMD_ST);

        // PxSNTF write-1-to-clear, then an HBA reset: every port register back to its reset value.
        s.reg(0, AhciPort.SNTF, -1);
        s.reg(0, AhciPort.CLBU, 0);
        s.reg(0, AhciPort.FBU, 0);
        t.reg(AhciController.GHC, AhciController.GHC_AE | AhciController.GHC_HR);
        t.await("HBA reset", () -> (t.reg(AhciController.GHC) & AhciController.GHC_HR) == 0);
        s.regs("second HR", 0);
        s.regs("second HR", 1);
        return s.lines;
    }
}
