package dev.vmm.config;

import dev.vmm.virtio.blk.CacheMode;
import dev.vmm.virtio.scsi.ScsiConfig;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ScsiOptionsTest {
    @Test
    void parsesEveryKey() {
        ScsiOptions o = ScsiOptions.parse("disk=/x.qcow2,format=qcow2,readonly=on,queues=4,serial=ABC,block_size=4096,discard=ignore,cache=none");
        assertEquals(dev.vmm.virtio.blk.CacheMode.NONE, o.cache());
        assertTrue(o.uring());
        assertFalse(ScsiOptions.parse("disk=a,aio=threads").uring());
        assertEquals(Path.of("/x.qcow2"), o.disk());
        assertEquals("qcow2", o.format());
        assertTrue(o.readOnly());
        assertEquals(4, o.queues());
        assertEquals("ABC", o.serialFor(3));
        assertEquals(4096, o.blockSize());
        assertFalse(o.discard());
        ScsiOptions d = ScsiOptions.parse("disk=a.raw");
        assertNull(d.format());
        assertNull(d.queues());
        assertEquals("vmm-scsi-2", d.serialFor(2));
        assertEquals(512, d.blockSize());
        assertTrue(d.discard());
        assertEquals(dev.vmm.virtio.blk.CacheMode.WRITEBACK, d.cache());
    }

    @Test
    void oneLineErrors() {
        for (String bad : new String[] {"", "format=raw", "disk=", "disk=a,format=vmdk", "disk=a,queues=0", "disk=a,queues=x",
                "disk=a,block_size=1024", "disk=a,bogus=1", "disk=a,disk=b", "disk=a,readonly=maybe", "disk=a,serial=has space", "novalue", "disk=a,cache=direct", "disk=a,aio=native", "disk=a,aio=threads,cache=none"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ScsiOptions.parse(bad), bad);
            assertTrue(e.getMessage().startsWith("--scsi"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        }
    }

    @Test
    void controllerQueuesAgreeOrDefaultToVcpus() {
        ScsiOptions a = ScsiOptions.parse("disk=a"), b = ScsiOptions.parse("disk=b,queues=2"), c = ScsiOptions.parse("disk=c,queues=3");
        assertEquals(4, ScsiOptions.controllerQueues(List.of(a), 4));
        assertEquals(2, ScsiOptions.controllerQueues(List.of(a, b), 4));
        assertThrows(IllegalArgumentException.class, () -> ScsiOptions.controllerQueues(List.of(b, c), 4));
    }

    @Test
    void pathIsTheSameKeyAsForDiskAndDiskStaysAnAlias() {
        assertEquals(Path.of("a.raw"), ScsiOptions.parse("path=a.raw").disk());
        assertEquals(ScsiOptions.parse("disk=a.raw,readonly=on"), ScsiOptions.parse("path=a.raw,readonly=on"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ScsiOptions.parse("path=a,disk=b"));
        assertTrue(e.getMessage().contains("given twice"), e.getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ScsiOptions.parse("readonly=on")).getMessage()
                .contains("'path=' is required"));
    }
}
