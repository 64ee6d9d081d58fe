package io.dbwarden.proxy.cli;

import io.dbwarden.proxy.audit.AuditRotation;
import io.dbwarden.proxy.audit.HashChain;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.Callable;

/** Checks the hash chain of audit log files: exit 0 when intact, 1 when tampered, 2 when unreadable. */
@Command(name = "verify", mixinStandardHelpOptions = true,
        description = "Verify the hash chain of audit logs (files in order, e.g. rotated parts oldest first).")
public final class VerifyCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "FILE", description = "Audit log files (JSON lines), oldest first.")
    Path[] files;

    @Option(names = "--with-rotated", description = "Check each FILE's rotated parts before it: FILE.N ... FILE.1 "
            + "(as --audit-max-file-bytes and logrotate name them), oldest first.")
    boolean withRotated;

    @Override
    public Integer call() {
        try {
            Path[] all = files;
            if (withRotated) {
                List<Path> parts = new ArrayList<>();
                for (Path file : files) {
                    parts.addAll(AuditRotation.withRotatedParts(file));
                }
                all = parts.toArray(Path[]::new);
            }
            Path[] checked = all;
            HashChain.Verification v = HashChain.verify(() -> lines(checked));
            for (long start : v.chainStarts()) {
                System.out.println("chain starts at line " + start + (start == 1 ? "" : " (a proxy started without "
                        + "an earlier log to continue; events before it are not linked to it)"));
            }
            if (v.intact()) {
                System.out.println("OK: " + v.events() + " events, hash chain intact");
                return 0;
            }
            for (String p : v.problems()) {
                System.out.println("TAMPERED: " + p);
            }
            System.out.println(v.problems().size() + " problem(s) in " + v.events() + " events");
            return 1;
        } catch (UncheckedIOException e) {
            System.err.println("cannot read audit log: " + e.getCause().getMessage());
            return 2;
        }
    }

    /** All lines of all files, in order (line numbers count across files). */
    private static Iterator<String> lines(Path[] files) {
        return new Iterator<>() {
            int index = -1;
            BufferedReader reader;
            String next;

            private void advance() {
                try {
                    while (true) {
                        if (reader != null) {
                            next = reader.readLine();
                            if (next != null) {
                                return;
                            }
                            reader.close();
                        }
                        if (++index >= files.length) {
                            next = null;
                            return;
                        }
                        reader = Files.newBufferedReader(files[index], StandardCharsets.UTF_8);
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }

            @Override
            public boolean hasNext() {
                if (next == null && index < files.length) {
                    advance();
                }
                return next != null;
            }

            @Override
            public String next() {
                if (!hasNext()) {
                    throw new java.util.NoSuchElementException();
                }
                String n = next;
                next = null;
                return n;
            }
        };
    }
}
