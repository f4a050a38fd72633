package dev.vmm.block.nbd;

import dev.vmm.block.BlockException;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NbdUriTest {
    @Test
    void tcpForms() {
        NbdUri u = NbdUri.parse("nbd://example.org:1234/my%20disk");
        assertThat(u.host()).isEqualTo("example.org");
        assertThat(u.port()).isEqualTo(1234);
        assertThat(u.export()).isEqualTo("my disk");
        assertThat(NbdUri.parse("nbd://h").port()).isEqualTo(10809);
        assertThat(NbdUri.parse("nbd://h/").export()).isEmpty();
        NbdUri v6 = NbdUri.parse("nbd://[::1]:99/e");
        assertThat(v6.host()).isEqualTo("::1");
        assertThat(v6.port()).isEqualTo(99);
        assertThat(NbdUri.parse("nbd://h/e?reconnect-delay=7").reconnectDelaySeconds()).isEqualTo(7);
    }

    @Test
    void unixForm() {
        NbdUri u = NbdUri.parse("nbd+unix:///exp?socket=/run/x.sock");
        assertThat(u.socket()).isEqualTo(Path.of("/run/x.sock"));
        assertThat(u.export()).isEqualTo("exp");
        assertThat(u.toString()).isEqualTo("nbd+unix:///exp?socket=/run/x.sock");
    }

    @Test
    void pathNormalisedFormsAreRecovered() {
        // What picocli and the --disk record hand over: a Path collapses "//".
        assertThat(NbdUri.fromPath(Path.of("nbd://127.0.0.1:5000/e"))).isEqualTo(NbdUri.parse("nbd://127.0.0.1:5000/e"));
        assertThat(NbdUri.fromPath(Path.of("nbd+unix:///e?socket=/tmp/s"))).isEqualTo(NbdUri.parse("nbd+unix:///e?socket=/tmp/s"));
        assertThat(NbdUri.isNbd(Path.of("nbd://h/e"))).isTrue();
        assertThat(NbdUri.isNbd(Path.of("disk.qcow2"))).isFalse();
        assertThat(NbdUri.isNbd(Path.of("nbd:file"))).isFalse();
    }

    @Test
    void tlsForms() {
        NbdUri t = NbdUri.parse("nbds://example.org:99/e?tls-creds=/etc/pki/qemu");
        assertThat(t.tls()).isEqualTo(new NbdUri.Tls(Path.of("/etc/pki/qemu"), "example.org"));
        assertThat(t.toString()).isEqualTo("nbds://example.org:99/e");
        // tls-creds on nbd:// turns TLS on too (QEMU's tls-creds option does), tls-hostname overrides the name checked.
        assertThat(NbdUri.parse("nbd://10.0.0.1/e?tls-creds=/c&tls-hostname=disks.example").tls()).isEqualTo(new NbdUri.Tls(Path.of("/c"), "disks.example"));
        NbdUri u = NbdUri.parse("nbds+unix:///e?socket=/run/s&tls-creds=/c&tls-hostname=localhost");
        assertThat(u.tls()).isEqualTo(new NbdUri.Tls(Path.of("/c"), "localhost"));
        assertThat(u.toString()).isEqualTo("nbds+unix:///e?socket=/run/s");
        assertThat(NbdUri.fromPath(Path.of("nbds://h:5000/e?tls-creds=/tmp/c"))).isEqualTo(NbdUri.parse("nbds://h:5000/e?tls-creds=/tmp/c"));
        assertThat(NbdUri.parse("nbd://h/e").tls()).isNull();
    }

    @Test
    void badUrisAreClearErrors() {
        assertThatThrownBy(() -> NbdUri.parse("nbd+unix:///e")).isInstanceOf(BlockException.class).hasMessageContaining("socket=PATH is required");
        assertThatThrownBy(() -> NbdUri.parse("nbd://h:99999/")).hasMessageContaining("out of range");
        assertThatThrownBy(() -> NbdUri.parse("nbd://h:x/")).hasMessageContaining("bad port");
        assertThatThrownBy(() -> NbdUri.parse("nbd:///e")).hasMessageContaining("no host");
        assertThatThrownBy(() -> NbdUri.parse("nbds://h/e")).hasMessageContaining("nbds needs tls-creds=DIR");
        assertThatThrownBy(() -> NbdUri.parse("nbds+unix:///e?socket=/s&tls-creds=/c")).hasMessageContaining("needs tls-hostname=NAME");
        assertThatThrownBy(() -> NbdUri.parse("nbd://h/e?tls-hostname=x")).hasMessageContaining("tls-hostname= without tls-creds=");
        assertThatThrownBy(() -> NbdUri.parse("nbd://h/e?foo=1")).hasMessageContaining("unknown parameter 'foo'");
        assertThatThrownBy(() -> NbdUri.parse("nbd://h/e?reconnect-delay=-1")).hasMessageContaining("reconnect-delay");
    }
    @Test
    void limitsAndFormsAtTheirEdges() {
        assertThat(NbdUri.parse("nbd://h/e?reconnect-delay=0").reconnectDelaySeconds()).isZero();
        assertThat(NbdUri.parse("nbd://h/e?reconnect-delay=3600").reconnectDelaySeconds()).isEqualTo(3600);
        assertThatThrownBy(() -> NbdUri.parse("nbd://h/e?reconnect-delay=3601")).hasMessageEndingWith("reconnect-delay must be 0..3600 seconds");
        assertThatThrownBy(() -> NbdUri.parse("nbd://h/e?reconnect-delay=soon")).hasMessageEndingWith("reconnect-delay must be a number of seconds");
        assertThat(NbdUri.parse("nbd://h:1").port()).isEqualTo(1);
        assertThat(NbdUri.parse("nbd://h:65535").port()).isEqualTo(65535);
        assertThatThrownBy(() -> NbdUri.parse("nbd://h:0")).hasMessage("invalid NBD URI 'nbd://h:0': port 0 out of range");
        assertThatThrownBy(() -> NbdUri.parse("nbd://h:65536")).hasMessageEndingWith("port 65536 out of range");
        assertThatThrownBy(() -> NbdUri.parse("nbd://[::1/e")).hasMessageEndingWith("unterminated IPv6 address");
        assertThatThrownBy(() -> NbdUri.parse("nbd://[::1]x/e")).hasMessageEndingWith("junk after the IPv6 address");
        assertThat(NbdUri.parse("nbd://[::1]/e").port()).isEqualTo(NbdConstants.DEFAULT_PORT);
        assertThatThrownBy(() -> NbdUri.parse("nbd://h/e?socket=/s")).hasMessageEndingWith("socket= belongs to nbd+unix:// URIs");
        assertThatThrownBy(() -> NbdUri.parse("nbd+unix://h/e?socket=/s")).hasMessageContaining("nbd+unix URIs have no host");
        assertThatThrownBy(() -> NbdUri.parse("nbd+unix:///e?socket=")).hasMessageEndingWith("socket=PATH is required");
        assertThatThrownBy(() -> NbdUri.parse("nbd+unix:///e?socket=/s&x=1")).hasMessageEndingWith("unknown parameter 'x'");
        assertThatThrownBy(() -> NbdUri.parse("nbds+unix:///e?socket=/s&tls-creds=/c&tls-hostname=")).hasMessageContaining("needs tls-hostname=NAME");
        assertThatThrownBy(() -> NbdUri.parse("nbds://h/e?tls-creds=")).hasMessageContaining("nbds needs tls-creds=DIR");
        assertThatThrownBy(() -> NbdUri.parse("http://h/e")).hasMessageEndingWith("unknown scheme 'http'");
        assertThatThrownBy(() -> NbdUri.parse("nbd:h")).hasMessageContaining("expected nbd://HOST[:PORT]/EXPORT");
        assertThatThrownBy(() -> NbdUri.parse("nbd://h/e?flag")).hasMessageEndingWith("query parameter 'flag' has no value");
        assertThat(NbdUri.parse("nbd://h/e?").export()).isEqualTo("e");
        assertThat(NbdUri.parse("nbd+unix://?socket=/s").socket()).isEqualTo(Path.of("/s"));
        assertThatThrownBy(() -> NbdUri.parse("://h")).hasMessageEndingWith("unknown scheme ''");
        assertThatThrownBy(() -> NbdUri.parse("nbd://h/e?=1")).hasMessageEndingWith("unknown parameter ''");
        assertThatThrownBy(() -> NbdUri.parse("nbd://:99/e")).hasMessageEndingWith("no host");
        assertThatThrownBy(() -> NbdUri.fromPath(Path.of(":/x"))).hasMessageContaining("expected nbd://HOST");
        assertThat(NbdUri.parse("nbd+tcp://h:7/a%20b+c").export()).isEqualTo("a b+c");
        assertThat(NbdUri.parse("nbd+unix:///?socket=/s%20t").socket()).isEqualTo(Path.of("/s t"));
    }

    @Test
    void namesAndAddresses() {
        assertThat(NbdUri.parse("nbd://[fe80::1]:99/x").toString()).isEqualTo("nbd://[fe80::1]:99/x");
        assertThat(NbdUri.parse("nbd://h:10809").toString()).isEqualTo("nbd://h");
        assertThat(NbdUri.parse("nbd+unix:///?socket=/s").toString()).isEqualTo("nbd+unix://?socket=/s");
        assertThat(NbdUri.parse("nbd://127.0.0.1:99/x").address()).isEqualTo(new java.net.InetSocketAddress("127.0.0.1", 99));
        assertThat(NbdUri.parse("nbd+unix:///?socket=/s").address()).isEqualTo(java.net.UnixDomainSocketAddress.of("/s"));
        NbdUri r = NbdUri.parse("nbds://h/e?tls-creds=/c").withReconnectDelay(9);
        assertThat(r.reconnectDelaySeconds()).isEqualTo(9);
        assertThat(r.tls()).isEqualTo(new NbdUri.Tls(Path.of("/c"), "h"));
        for (String s : new String[] {"nbd://h", "nbd+tcp://h", "nbd+unix:///?socket=/s", "nbds://h", "nbds+unix:///?socket=/s"}) {
            assertThat(NbdUri.isNbd(s)).as(s).isTrue();
        }
        assertThat(NbdUri.isNbd("nbdx://h")).isFalse();
        assertThat(NbdUri.isNbd("/images/nbd://h")).isFalse();
        assertThat(NbdUri.fromPath(Path.of("nbds+unix:///e?socket=/s&tls-creds=/c&tls-hostname=n")).socket()).isEqualTo(Path.of("/s"));
    }
}
