package dev.vmm.config;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DiskSpecTest {
    @Test
    void fullSpec() {
        DiskSpec d = DiskSpec.parse("path=/a/b.img,format=qcow2,readonly=off,discard=unmap,queues=4,cache=none,iops=1000,bps=10M,burst=2,serial=abc,id=data0");
        assertThat(d.path()).isEqualTo(Path.of("/a/b.img"));
        assertThat(d.format()).isEqualTo("qcow2");
        assertThat(d.discard()).isTrue();
        assertThat(d.queues()).isEqualTo(4);
        assertThat(d.direct()).isTrue();
        assertThat(d.limits().iops()).isEqualTo(1000);
        assertThat(d.limits().bps()).isEqualTo(10L << 20);
        assertThat(d.limits().burstSeconds()).isEqualTo(2);
        assertThat(d.serial()).isEqualTo("abc");
        assertThat(d.id()).isEqualTo("data0");
    }

    @Test
    void bareFirstElementIsThePathAndDefaults() {
        DiskSpec d = DiskSpec.parse("disk.img");
        assertThat(d.path()).isEqualTo(Path.of("disk.img"));
        assertThat(d.format()).isNull();
        assertThat(d.readOnly()).isFalse();
        assertThat(d.cache()).isEqualTo("writeback");
        assertThat(d.direct()).isFalse();
        assertThat(d.limits().any()).isFalse();
        assertThat(d.id()).isNull();
    }

    @Test
    void commaInPathIsEscapedByDoubling() {
        assertThat(DiskSpec.parse("path=a,,b.img").path()).isEqualTo(Path.of("a,b.img"));
    }

    @Test
    void errorsAreOneLineAndNameTheKey() {
        assertThatThrownBy(() -> DiskSpec.parse("path=x,colour=red")).isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("--disk: unknown key 'colour'");
        assertThatThrownBy(() -> DiskSpec.parse("readonly=on")).hasMessage("--disk: 'path=' is required");
        assertThatThrownBy(() -> DiskSpec.parse("path=x,readonly=maybe")).hasMessage("--disk: readonly=maybe is not on or off");
        assertThatThrownBy(() -> DiskSpec.parse("path=x,cache=fast")).hasMessageContaining("is not one of none|writeback|writethrough");
        assertThatThrownBy(() -> DiskSpec.parse("path=x,queues=65")).hasMessage("--disk: queues must be between 0 and 64");
        assertThatThrownBy(() -> DiskSpec.parse("path=x,path=y")).hasMessage("--disk: 'path' given twice");
        assertThatThrownBy(() -> DiskSpec.parse("path=x,iops=lots")).hasMessage("--disk: iops=lots is not a number");
        assertThatThrownBy(() -> DiskSpec.parse("path=x,id=9lives")).hasMessageStartingWith("--disk: id must start with a letter");
    }
}
