import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassFileVersion;
import java.lang.classfile.ClassHierarchyResolver;
import java.lang.classfile.ClassTransform;
import java.lang.classfile.CodeTransform;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Build step (run by assemble.sh on the shaded jar, JDK 24+): rewrites class files older than
 * Java 6 (major version below 50) as Java 8 class files with stack map frames, same code.
 *
 * <p>Why: picocli ships Java 5 class files. Neither the CDS archive nor JDK 25's AOT cache can hold
 * such classes, so every start of {@code vmm} parsed and verified picocli's ~170 classes with the
 * old verifier (~15 % of a dry run's CPU). The JDK's own ClassFile API regenerates the frames from
 * the unchanged instructions; nothing else is touched (the behaviour is the same library).
 */
public class UpgradeOldClassFiles {
    public static void main(String[] args) throws IOException {
        Path jar = Path.of(args[0]);
        try (FileSystem fs = FileSystems.newFileSystem(jar)) {
            // Frames need the common super class of two types: the JDK's classes, else the jar's.
            ClassHierarchyResolver jarClasses = ClassHierarchyResolver.ofResourceParsing(desc -> {
                String d = desc.descriptorString();
                Path p = fs.getPath("/" + d.substring(1, d.length() - 1) + ".class");
                try {
                    return Files.exists(p) ? Files.newInputStream(p) : (InputStream) null;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            ClassFile cf = ClassFile.of(ClassFile.StackMapsOption.GENERATE_STACK_MAPS,
                    ClassFile.ClassHierarchyResolverOption.of(ClassHierarchyResolver.defaultResolver().orElse(jarClasses)));
            // Every method body is rebuilt (so that frames are generated), the version raised.
            ClassTransform upgrade = ClassTransform.transformingMethodBodies(CodeTransform.ACCEPT_ALL)
                    .andThen((b, e) -> {
                        if (e instanceof ClassFileVersion) b.withVersion(ClassFile.JAVA_8_VERSION, 0);
                        else b.with(e);
                    });
            List<Path> classes;
            try (Stream<Path> s = Files.walk(fs.getPath("/"))) {
                classes = s.filter(p -> p.toString().endsWith(".class")).toList();
            }
            int upgraded = 0;
            for (Path p : classes) {
                byte[] b = Files.readAllBytes(p);
                if (b.length < 8 || (((b[6] & 0xff) << 8) | (b[7] & 0xff)) >= ClassFile.JAVA_6_VERSION) continue;
                Files.write(p, cf.transformClass(cf.parse(b), upgrade));
                upgraded++;
            }
            System.out.println("[vmm] class files older than Java 6 rewritten as Java 8 (for the AOT cache): " + upgraded);
        }
    }
}
