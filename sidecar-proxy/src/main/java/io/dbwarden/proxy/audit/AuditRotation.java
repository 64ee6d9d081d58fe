package io.dbwarden.proxy.audit;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Size rotation of the audit file: before a line would take it past {@code maxBytes} (0: never), {@code FILE} becomes
 * {@code FILE.1}, {@code FILE.1} becomes {@code FILE.2} and so on; {@code keep} rotated parts are kept beside the
 * current file, the oldest beyond them deleted. The hash chain runs on across the parts.
 */
public record AuditRotation(long maxBytes, int keep) {
    public static final AuditRotation NONE = new AuditRotation(0, 0);
    /** Smallest size limit: a few events per part at least. */
    public static final long MIN_BYTES = 4096;
    public static final int MAX_KEEP = 1000;

    public AuditRotation {
        if (maxBytes != 0 && maxBytes < MIN_BYTES) {
            throw new IllegalArgumentException("an audit file size limit must be 0 (none) or at least " + MIN_BYTES
                    + " bytes, got " + maxBytes);
        }
        if (keep < 0 || keep > MAX_KEEP || (maxBytes > 0 && keep < 1)) {
            throw new IllegalArgumentException("rotated audit files kept must be between 1 and " + MAX_KEEP
                    + ", got " + keep);
        }
    }

    /** {@code file}'s rotated part {@code n} (1 is the newest). */
    public static Path part(Path file, int n) {
        return file.resolveSibling(file.getFileName() + "." + n);
    }

    /** The rotated parts of {@code file} that exist, oldest first, then the file itself: the chain's order. */
    public static List<Path> withRotatedParts(Path file) {
        int n = 0;
        while (Files.exists(part(file, n + 1))) {
            n++;
        }
        List<Path> files = new ArrayList<>(n + 1);
        for (int i = n; i >= 1; i--) {
            files.add(part(file, i));
        }
        files.add(file);
        return files;
    }
}
