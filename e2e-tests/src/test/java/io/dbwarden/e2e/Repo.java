package io.dbwarden.e2e;

import java.nio.file.Files;
import java.nio.file.Path;

/** Paths in the repository checkout, independent of the directory Maven runs the tests from. */
final class Repo {
    static final Path ROOT = findRoot();

    private Repo() {
    }

    static Path path(String relative) {
        return ROOT.resolve(relative);
    }

    private static Path findRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null) {
            if (Files.isDirectory(p.resolve("helm/dbwarden")) && Files.isRegularFile(p.resolve("pom.xml"))) {
                return p;
            }
            p = p.getParent();
        }
        throw new IllegalStateException("cannot find the repository root above " + Path.of("").toAbsolutePath());
    }
}
