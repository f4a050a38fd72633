package dev.vmm.dump;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The ELF core of a fake machine (test guest memory in two blocks, made-up registers for two vCPUs)
 * read back by binutils' {@code readelf} (program headers, notes) and by {@code gdb} (registers per
 * thread): the tools a user would point at a guest core.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ElfCoreWriterTest {
    @TempDir
    static Path dir;
    static Path core;
    static final long LOW = 0, LOW_SIZE = 64 * 1024, HIGH = 0x10_0000, HIGH_SIZE = 128 * 1024;
    static final List<X86Registers> CPUS = List.of(regs(0x1000), regs(0x2000));
    static Arena arena = Arena.ofShared();

    public static X86Registers regs(long seed) {
        return new X86Registers(seed + 1, seed + 2, seed + 3, seed + 4, seed + 5, seed + 6, 0xffff_8880_0000_0000L + seed,
                seed + 8, seed + 9, seed + 10, seed + 11, seed + 12, seed + 13, seed + 14, seed + 15, seed + 16,
                0xffff_ffff_8100_0000L + seed, 0x246, 0x10, 0x18, 0x18, 0x18, 0, 0, 0x7f00_0000_0000L + seed,
                0xffff_8880_7fc0_0000L + seed);
    }

    @BeforeAll
    static void writeCore() throws IOException {
        MemorySegment low = arena.allocate(LOW_SIZE, 4096), high = arena.allocate(HIGH_SIZE, 4096);
        for (long i = 0; i < LOW_SIZE; i += 8) low.set(ValueLayout.JAVA_LONG_UNALIGNED, i, LOW + i);
        for (long i = 0; i < HIGH_SIZE; i += 8) high.set(ValueLayout.JAVA_LONG_UNALIGNED, i, ~(HIGH + i));
        GuestMemory mem = new GuestMemory(List.of(new GuestRegion(0, LOW, low), new GuestRegion(1, HIGH, high)));
        core = dir.resolve("guest.core");
        ElfCoreWriter.write(core, mem, CPUS);
    }

    public static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", cmd) + ":\n" + out).isZero();
        return out;
    }

    public static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (Files.isExecutable(Path.of(d, tool))) return true;
        }
        return false;
    }

    @Test
    void readelfSeesOnePtLoadPerBlockAtTheRightOffsets() throws Exception {
        assumeTrue(onPath("readelf"), "readelf (binutils) is not installed");
        String out = run("readelf", "-h", "-l", "-W", core.toString());
        assertThat(out).containsPattern("Type:\\s+CORE").containsPattern("Machine:\\s+Advanced Micro Devices X86-64");
        // Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align
        Matcher m = Pattern.compile("LOAD\\s+0x(\\p{XDigit}+)\\s+0x(\\p{XDigit}+)\\s+0x(\\p{XDigit}+)\\s+0x(\\p{XDigit}+)\\s+0x(\\p{XDigit}+)")
                .matcher(out);
        List<long[]> loads = new ArrayList<>();
        while (m.find()) {
            loads.add(new long[] {Long.parseUnsignedLong(m.group(1), 16), Long.parseUnsignedLong(m.group(2), 16),
                    Long.parseUnsignedLong(m.group(3), 16), Long.parseUnsignedLong(m.group(4), 16), Long.parseUnsignedLong(m.group(5), 16)});
        }
        assertThat(loads).hasSize(2);
        assertThat(loads.get(0)[2]).isEqualTo(LOW);
        assertThat(loads.get(0)[4]).isEqualTo(LOW_SIZE);
        assertThat(loads.get(1)[2]).isEqualTo(HIGH);
        assertThat(loads.get(1)[4]).isEqualTo(HIGH_SIZE);
        assertThat(out).containsPattern("NOTE\\s+0x");
        // The bytes at each PT_LOAD's file offset are that block's guest memory.
        byte[] file = Files.readAllBytes(core);
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(file.length).isEqualTo(loads.get(1)[0] + HIGH_SIZE);
        for (long i = 0; i < LOW_SIZE; i += 4096) assertThat(b.getLong((int) (loads.get(0)[0] + i))).isEqualTo(LOW + i);
        for (long i = 0; i < HIGH_SIZE; i += 4096) assertThat(b.getLong((int) (loads.get(1)[0] + i))).isEqualTo(~(HIGH + i));
    }

    @Test
    void readelfSeesOnePrstatusPerVcpu() throws Exception {
        assumeTrue(onPath("readelf"), "readelf (binutils) is not installed");
        String out = run("readelf", "-n", "-W", core.toString());
        assertThat(Pattern.compile("CORE\\s+0x0*150\\s+NT_PRSTATUS").matcher(out).results().count()).as(out).isEqualTo(CPUS.size());
    }

    @Test
    void gdbReadsEachVcpusRegistersBack() throws Exception {
        assumeTrue(onPath("gdb"), "gdb is not installed");
        String out = run("gdb", "-batch", "-nx", "-ex", "set architecture i386:x86-64", "-ex", "core-file " + core,
                "-ex", "thread 1", "-ex", "info registers rip rsp rax r15 eflags fs_base gs_base",
                "-ex", "thread 2", "-ex", "info registers rip rsp rax r15 eflags fs_base gs_base");
        String[] perThread = out.split("\\[Switching to thread");
        assertThat(perThread).as(out).hasSizeGreaterThanOrEqualTo(3);
        for (int i = 0; i < CPUS.size(); i++) {
            String t = perThread[perThread.length - CPUS.size() + i];
            X86Registers r = CPUS.get(i);
            assertThat(reg(t, "rip")).as(t).isEqualTo(r.rip());
            assertThat(reg(t, "rsp")).isEqualTo(r.rsp());
            assertThat(reg(t, "rax")).isEqualTo(r.rax());
            assertThat(reg(t, "r15")).isEqualTo(r.r15());
            assertThat(reg(t, "eflags")).isEqualTo(r.rflags());
            assertThat(reg(t, "fs_base")).isEqualTo(r.fsBase());
            assertThat(reg(t, "gs_base")).isEqualTo(r.gsBase());
        }
    }

    private static long reg(String text, String name) {
        Matcher m = Pattern.compile("(?m)^" + name + "\\s+0x(\\p{XDigit}+)").matcher(text);
        assertThat(m.find()).as(name + " in\n" + text).isTrue();
        return Long.parseUnsignedLong(m.group(1), 16);
    }
}
