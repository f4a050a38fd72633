package dev.vmm.block;

import dev.vmm.ffm.libc.Libc;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The whole-file OFD lock between two opens of one image (OFD locks conflict even inside one process). */
class OfdLockTest {
    @TempDir
    Path dir;

    private int open(Path p) {
        return Libc.open(p.toString(), Libc.O_RDWR | Libc.O_CLOEXEC, 0);
    }

    @Test
    void writersExcludeEachOtherAndReadersReadersShare() throws Exception {
        Path img = Files.write(dir.resolve("disk.img"), new byte[4096]);
        int a = open(img), b = open(img);
        try {
            assertEquals(0, OfdLock.lock(a, false));
            int r = OfdLock.lock(b, false);
            assertTrue(r < 0 && OfdLock.heldElsewhere(r), "second writer refused, got " + r);
            assertTrue(OfdLock.heldElsewhere(OfdLock.lock(b, true)), "a reader is refused while a writer holds it");
            assertEquals(0, OfdLock.unlock(a));
            assertEquals(0, OfdLock.lock(b, true));
            assertEquals(0, OfdLock.lock(a, true), "two readers share");
            assertTrue(OfdLock.heldElsewhere(OfdLock.lock(a, false)), "no upgrade to writing while another reads");
        } finally {
            Libc.close(a);
            Libc.close(b);
        }
    }

    @Test
    void closingTheFdDropsTheLock() throws Exception {
        Path img = Files.write(dir.resolve("disk.img"), new byte[4096]);
        int a = open(img);
        assertEquals(0, OfdLock.lock(a, false));
        Libc.close(a);
        int b = open(img);
        try {
            assertEquals(0, OfdLock.lock(b, false));
        } finally {
            Libc.close(b);
        }
    }
}
