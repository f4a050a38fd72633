package dev.vmm.aot;

import org.junit.jupiter.api.Test;

import java.io.File;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * JDK 25's AOT cache keeps no lambda of an interface that has both a static initializer and default
 * methods ({@code -Xlog:aot+resolve}: "Cannot aot-resolve Lambda proxy of interface type"): every
 * such lambda is spun again, interpreted, at each start. {@code InterruptLine.NONE} and
 * {@code ByteSink.NULL} did that to a dry run's interrupt lines and serial sink (#19). This checks
 * the compiled classes of every module on the class path so that a constant added to such an
 * interface shows up here rather than as a slower start.
 */
class LambdaInterfacesTest {
    @Test
    void noInterfaceOfOursHasAStaticInitializerAndDefaultMethods() throws IOException {
        List<String> offenders = new ArrayList<>();
        int interfaces = 0;
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path p = Path.of(e);
            if (p.getFileName().toString().equals("test-classes")) continue;
            Map<String, byte[]> classes = ourClasses(p);
            for (Map.Entry<String, byte[]> c : classes.entrySet()) {
                Class<?> k;
                try {
                    k = Class.forName(c.getKey(), false, getClass().getClassLoader()); // loaded, not initialised
                } catch (ClassNotFoundException | LinkageError skipped) {
                    continue;
                }
                if (!k.isInterface()) continue;
                interfaces++;
                // The method's name is in the class file's constant pool only if the method is there
                // (the release the modules compile for has no class-file API to ask).
                boolean clinit = new String(c.getValue(), StandardCharsets.ISO_8859_1).contains("<clinit>");
                boolean defaults = Arrays.stream(k.getDeclaredMethods()).anyMatch(Method::isDefault);
                if (clinit && defaults) offenders.add(c.getKey());
            }
        }
        assertTrue(interfaces > 50, "found only " + interfaces + " interfaces: is the class path the reactor's?");
        assertEquals(List.of(), offenders, "interfaces whose lambdas the AOT cache cannot keep");
    }

    /** The dev.vmm class files of a class-path entry (a directory or a jar): name -> bytes. */
    private static Map<String, byte[]> ourClasses(Path p) throws IOException {
        Map<String, byte[]> out = new TreeMap<>();
        if (Files.isDirectory(p)) {
            try (Stream<Path> files = Files.walk(p)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    String rel = p.relativize(f).toString().replace(File.separatorChar, '/');
                    if (rel.startsWith("dev/vmm/") && rel.endsWith(".class")) out.put(className(rel), Files.readAllBytes(f));
                }
            }
        } else if (p.toString().endsWith(".jar") && Files.isRegularFile(p)) {
            try (JarFile jar = new JarFile(p.toFile())) {
                for (JarEntry j : Collections.list(jar.entries())) {
                    if (j.getName().startsWith("dev/vmm/") && j.getName().endsWith(".class")) {
                        try (var in = jar.getInputStream(j)) {
                            out.put(className(j.getName()), in.readAllBytes());
                        }
                    }
                }
            }
        }
        return out;
    }

    private static String className(String path) {
        return path.substring(0, path.length() - ".class".length()).replace('/', '.');
    }
}
