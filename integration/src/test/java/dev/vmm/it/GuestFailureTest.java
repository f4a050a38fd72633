package dev.vmm.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Guests that end badly: the VMM must print one clear line with the exit reason plus a register
 * dump, exit non-zero (125), and never hang. The guests are a few bytes of code in a multiboot
 * ELF made here, so the failure is exactly the one intended.
 */
class GuestFailureTest {
    private static final Duration T = Duration.ofSeconds(60);

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvm();
    }

    /** A multiboot ELF32 whose entry runs {@code code} in 32-bit protected mode with no IDT. */
    static Path multibootGuest(Path dir, String name, byte[] code) throws Exception {
        int paddr = 0x100000, dataOff = 0x100;
        ByteBuffer mb = ByteBuffer.allocate(12 + code.length).order(ByteOrder.LITTLE_ENDIAN);
        mb.putInt(0x1BADB002).putInt(0).putInt(-0x1BADB002).put(code);
        byte[] data = mb.array();
        ByteBuffer b = ByteBuffer.allocate(dataOff + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7f, 'E', 'L', 'F', 1, 1, 1, 0}).position(16);
        b.putShort((short) 2).putShort((short) 3).putInt(1).putInt(paddr + 12).putInt(52).putInt(0).putInt(0)
                .putShort((short) 52).putShort((short) 32).putShort((short) 1).putShort((short) 0)
                .putShort((short) 0).putShort((short) 0);
        b.putInt(1).putInt(dataOff).putInt(paddr).putInt(paddr).putInt(data.length).putInt(data.length).putInt(7).putInt(16);
        b.position(dataOff);
        b.put(data);
        Path f = dir.resolve(name);
        Files.write(f, b.array());
        return f;
    }

    @Test
    void tripleFaultIsReportedWithRegisters(@TempDir Path dir) throws Exception {
        // ud2 with an empty IDT: #UD -> #GP -> #DF -> shutdown.
        Path k = multibootGuest(dir, "ud2.elf", new byte[] {0x0f, 0x0b});
        Vmm.Result r = Vmm.run(T, "run", "--kernel", k.toString());
        assertThat(r.status()).as(r.describe()).isEqualTo(125);
        assertThat(r.stderr()).contains("vmm: vCPU 0: guest triple fault (KVM_EXIT_SHUTDOWN)");
        assertThat(r.stderr()).containsPattern("rip=000000000010000[cd]").contains("cr0=0000000000000011");
    }

    @Test
    void instructionTheHostCannotRunIsAnInternalError(@TempDir Path dir) throws Exception {
        // popcnt at CPL0: this PVM host emulates CPL0 code and its emulator lacks popcnt. On a VT-x
        // host the instruction simply runs, then ud2 triple-faults; either way: status 125, a reason, registers.
        Path k = multibootGuest(dir, "popcnt.elf", new byte[] {(byte) 0xf3, 0x0f, (byte) 0xb8, (byte) 0xc0, 0x0f, 0x0b});
        Vmm.Result r = Vmm.run(T, "run", "--kernel", k.toString());
        assertThat(r.status()).as(r.describe()).isEqualTo(125);
        assertThat(r.stderr()).containsPattern("KVM_EXIT_INTERNAL_ERROR: emulation failure|guest triple fault");
        assertThat(r.stderr()).contains("rflags=");
    }

    @Test
    void guestChosenExitStatusIsPassedThrough(@TempDir Path dir) throws Exception {
        // mov al, 42; out 0xf4, al
        Path k = multibootGuest(dir, "exit42.elf", new byte[] {(byte) 0xb0, 42, (byte) 0xe6, (byte) 0xf4, 0x0f, 0x0b});
        Vmm.Result r = Vmm.run(T, "run", "--kernel", k.toString());
        assertThat(r.status()).as(r.describe()).isEqualTo(42);
        assertThat(r.stderr()).contains("guest requested exit with status 42");
    }

    @Test
    void haltedApsDoNotKeepTheVmmAlive(@TempDir Path dir) throws Exception {
        // Four vCPUs: the APs never get a SIPI and sit in KVM_RUN; the BSP exits at once. The VMM must
        // interrupt them (immediate_exit + signal) and end promptly.
        Path k = multibootGuest(dir, "exit0.elf", new byte[] {(byte) 0xb0, 0, (byte) 0xe6, (byte) 0xf4, 0x0f, 0x0b});
        Vmm.Result r = Vmm.run(T, "run", "--kernel", k.toString(), "--cpus", "4");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.timedOut()).isFalse();
    }

    private static final byte[] RESET_VIA_CF9 = {0x66, (byte) 0xba, (byte) 0xf9, 0x0c, (byte) 0xb0, 0x02, (byte) 0xee,
            (byte) 0xb0, 0x06, (byte) 0xee, 0x0f, 0x0b};

    @Test
    void resetEndsTheVmmWithStatusZero(@TempDir Path dir) throws Exception {
        Path k = multibootGuest(dir, "reset.elf", RESET_VIA_CF9);
        Vmm.Result r = Vmm.run(T, "run", "--kernel", k.toString());
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stderr()).contains("vmm: guest requested a reset");
        Path kbd = multibootGuest(dir, "kbdreset.elf", new byte[] {(byte) 0xb0, (byte) 0xfe, (byte) 0xe6, 0x64, 0x0f, 0x0b});
        Vmm.Result r2 = Vmm.run(T, "run", "--kernel", kbd.toString());
        assertThat(r2.status()).as(r2.describe()).isZero();
        assertThat(r2.stderr()).contains("vmm: guest requested a reset");
    }

    @Test
    void rebootOptionRestartsTheMachine(@TempDir Path dir) throws Exception {
        // A guest that always resets: with --reboot the machine comes back again and again until killed.
        Path k = multibootGuest(dir, "reset.elf", RESET_VIA_CF9);
        Vmm.Result r = Vmm.run(Duration.ofSeconds(20), "run", "--kernel", k.toString(), "--reboot");
        assertThat(r.timedOut()).as(r.describe()).isTrue();
        assertThat(r.stderr().lines().filter(l -> l.contains("rebooting (--reboot)")).count()).as(r.describe()).isGreaterThanOrEqualTo(2);
    }
}
