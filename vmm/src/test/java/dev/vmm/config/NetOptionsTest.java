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
    void inheritedTapDescriptors() {
        NetOptions one = NetOptions.parse("fd=5,mac=52:54:00:00:00:09");
        assertThat(one.tap()).isNull();
        assertThat(one.fds()).containsExactly(5);
        assertThat(one.queuePairs(4)).isEqualTo(1);
        NetOptions three = NetOptions.parse("fds=5:6:7");
        assertThat(three.fds()).containsExactly(5, 6, 7);
        assertThat(three.queuePairs(1)).isEqualTo(3);
        assertThat(three.macFor("vnet0")).isEqualTo(NetOptions.parse("tap=vnet0").macOrDerived());
        assertThat(NetOptions.parse("tap=x").fds()).isNull();
    }

    @Test
    void inheritedTapDescriptorRefusals() {
        assertThatThrownBy(() -> NetOptions.parse("tap=x,fd=5")).hasMessage("--net: tap= and fd= cannot go together (an inherited tap is used as it is)");
        assertThatThrownBy(() -> NetOptions.parse("fd=5,queues=2")).hasMessage("--net: bridge=, mtu=, queues=, fds= are invalid with fd=");
        assertThatThrownBy(() -> NetOptions.parse("fd=5,fds=6:7")).hasMessage("--net: bridge=, mtu=, queues=, fds= are invalid with fd=");
        assertThatThrownBy(() -> NetOptions.parse("fds=5:6,bridge=br0")).hasMessage("--net: bridge=, mtu=, queues= are invalid with fds=");
        assertThatThrownBy(() -> NetOptions.parse("fds=5:6,mtu=1500")).hasMessage("--net: bridge=, mtu=, queues= are invalid with fds=");
        assertThatThrownBy(() -> NetOptions.parse("fd=x7")).hasMessage("--net: Invalid file descriptor number 'x7'");
        assertThatThrownBy(() -> NetOptions.parse("fd=-1")).hasMessage("--net: Invalid file descriptor number '-1'");
        assertThatThrownBy(() -> NetOptions.parse("fd=99999999999999999999999")).hasMessage("--net: Invalid file descriptor number '99999999999999999999999'");
        assertThatThrownBy(() -> NetOptions.parse("fd=4294967296")).hasMessage("--net: Invalid file descriptor number '4294967296'");
        assertThatThrownBy(() -> NetOptions.parse("fds=5::6")).hasMessage("--net: Invalid file descriptor number ''");
        assertThatThrownBy(() -> NetOptions.parse("fds=5:6:5")).hasMessage("--net: file descriptor 5 is given twice");
        String many = String.join(":", java.util.stream.IntStream.range(10, 10 + Tap.MAX_QUEUES + 1).mapToObj(String::valueOf).toList());
        assertThatThrownBy(() -> NetOptions.parse("fds=" + many)).hasMessage("--net: at most " + Tap.MAX_QUEUES + " tap fds, not " + (Tap.MAX_QUEUES + 1));
        assertThatThrownBy(() -> NetOptions.parse("fd=")).hasMessage("--net: 'fd=' is required");
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
