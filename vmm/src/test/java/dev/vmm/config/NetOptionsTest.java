package dev.vmm.config;

import dev.vmm.virtio.net.MacAddress;
import dev.vmm.virtio.net.RxFilter;
import dev.vmm.virtio.net.tap.Tap;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NetOptionsTest {
    @Test
    void parsesEveryKey() {
        NetOptions o = NetOptions.parse("tap=tap0,queues=4,mac=52:54:00:12:34:56,bridge=br0,mtu=9000,queue_size=512");
        assertThat(o.tap()).isEqualTo("tap0");
        assertThat(o.queuePairs(2)).isEqualTo(4);
        assertThat(o.macOrDerived()).isEqualTo(MacAddress.parse("52:54:00:12:34:56"));
        assertThat(o.bridge()).isEqualTo("br0");
        assertThat(o.mtu()).isEqualTo(9000);
        assertThat(o.queueSize()).isEqualTo(512);
    }

    @Test
    void defaultsFollowTheVcpusAndTheTapName() {
        NetOptions o = NetOptions.parse("tap=vm1");
        assertThat(o.queuePairs(3)).isEqualTo(3);
        assertThat(o.queueSize()).isEqualTo(NetOptions.DEFAULT_QUEUE_SIZE);
        assertThat(o.bridge()).isNull();
        MacAddress m = o.macOrDerived();
        assertThat(m).isEqualTo(NetOptions.parse("tap=vm1").macOrDerived()).isNotEqualTo(NetOptions.parse("tap=vm2").macOrDerived());
        assertThat(m.isMulticast()).isFalse();
        assertThat(m.toString()).startsWith("52:54:00:");
    }

    @Test
    void oneLineErrors() {
        assertThatThrownBy(() -> NetOptions.parse("queues=2")).hasMessage("--net: 'tap=' is required");
        assertThatThrownBy(() -> NetOptions.parse("tap=x,queues=0")).hasMessage("--net: queues must be between 1 and 256");
        assertThatThrownBy(() -> NetOptions.parse("tap=x,queues=two")).hasMessage("--net: queues=two is not a number");
        assertThatThrownBy(() -> NetOptions.parse("tap=x,mac=01:00:5e:00:00:01")).hasMessage("--net: mac=01:00:5e:00:00:01 is not a unicast, non-zero address");
        assertThatThrownBy(() -> NetOptions.parse("tap=x,mac=52:54:00:12:34")).hasMessageStartingWith("--net: mac: MAC address '52:54:00:12:34' must be six hex octets");
        assertThatThrownBy(() -> NetOptions.parse("tap=averyveryverylongname")).hasMessageStartingWith("--net: tap name must be 1..15 characters");
        assertThatThrownBy(() -> NetOptions.parse("tap=a/b")).hasMessageContaining("has a character");
        assertThatThrownBy(() -> NetOptions.parse("tap=x,mtu=20")).hasMessage("--net: mtu must be between 68 and 65535");
        assertThatThrownBy(() -> NetOptions.parse("tap=x,queue_size=100")).hasMessage("--net: queue_size=100 is not a power of two");
        assertThatThrownBy(() -> NetOptions.parse("tap=x,color=red")).hasMessageStartingWith("--net: unknown key 'color'");
        assertThatThrownBy(() -> NetOptions.parse("tap=")).hasMessage("--net: 'tap=' is required");
        assertThatThrownBy(() -> NetOptions.parse("tap=x,tap=y")).hasMessage("--net: 'tap' given twice");
        assertThat(NetOptions.parse("tap=x,mtu=1500").mtu()).isEqualTo(1500);
    }

    @Test
    void receiveFilter() {
        MacAddress me = MacAddress.parse("52:54:00:00:00:01");
        RxFilter f = RxFilter.initial(me).withPromisc(false);
        assertThat(f.accepts(me.value())).isTrue();
        assertThat(f.accepts(0xFFFF_FFFF_FFFFL)).isTrue();
        assertThat(f.accepts(MacAddress.parse("52:54:00:00:00:02").value())).isFalse();
        assertThat(f.accepts(MacAddress.parse("01:00:5e:00:00:01").value())).isFalse();
        assertThat(f.withAllMulti(true).accepts(MacAddress.parse("01:00:5e:00:00:01").value())).isTrue();
        assertThat(f.withPromisc(true).accepts(MacAddress.parse("52:54:00:00:00:02").value())).isTrue();
        assertThat(f.withTables(java.util.Set.of(MacAddress.parse("52:54:00:00:00:02").value()), java.util.Set.of())
                .accepts(MacAddress.parse("52:54:00:00:00:02").value())).isTrue();
    }
}
