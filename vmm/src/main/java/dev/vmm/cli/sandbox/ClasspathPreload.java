package dev.vmm.cli.sandbox;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Before a chroot or a change of user: the JVM loads classes lazily, and afterwards the class
 * path's paths may no longer resolve (chroot) or be readable (a directory of mode 0700 that only
 * root may enter, as {@code mktemp -d} makes them; the --run-as tests failed in such a clone). Jars are opened once and then read through their descriptor, so one resource
 * lookup that walks the whole class path opens them all; class directories (a development run
 * from target/classes) are read file by file, so their classes are loaded here, without running
 * their initialisers. The JDK's own classes come from its runtime image, which stays open, but
 * some of its native libraries are loaded by path on first use: see {@link #jdkLibraries}.
 */
final class ClasspathPreload {
    private ClasspathPreload() {}

    static void beforeDrop() {
        jdkLibraries();
        ClassLoader loader = ClasspathPreload.class.getClassLoader();
        loader.getResource("dev/vmm/cli/sandbox/no-such-resource"); // opens every jar on the way
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path dir = Path.of(entry);
            if (!Files.isDirectory(dir)) continue;
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
                    String name = dir.relativize(f).toString().replace(File.separatorChar, '.');
                    name = name.substring(0, name.length() - ".class".length());
                    if (name.endsWith("module-info") || name.endsWith("package-info")) continue;
                    try {
                        Class.forName(name, false, loader);
                    } catch (ClassNotFoundException | LinkageError ignored) {
                        // a test-only or optional class whose dependencies are absent: not needed later either
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /**
     * libextnet, which the JDK loads from its lib directory the first time a socket channel is
     * closed or configured (sun.nio.ch.Net's initialiser asks for the extended socket options).
     * After a chroot that path is gone: {@code vmm img convert --chroot} from an NBD source over a
     * UNIX socket copied everything and then died with UnsatisfiedLinkError when it closed the
     * connection (PrivilegeDropTest found it). Initialising the options class loads it now.
     */
    private static void jdkLibraries() {
        try {
            Class.forName("jdk.net.ExtendedSocketOptions", true, ClasspathPreload.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError absent) {
            // a runtime without jdk.net: its sockets never ask for the library either
        }
    }
}
