package io.dbwarden.proxy.audit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Small helpers for audit files. */
final class AuditFiles {
    private AuditFiles() {
    }

    /** The last complete (newline-terminated) non-empty line of a regular file, or null. */
    static String lastLine(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            return null; // none, or a FIFO or device (opening a FIFO to read would wait for a writer)
        }
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            long pos = f.length();
            // skip a trailing partial line (no newline yet) and the final newline
            while (pos > 0) {
                f.seek(pos - 1);
                if (f.read() == '\n') {
                    break;
                }
                pos--;
            }
            long end = pos - 1; // position of the terminating newline
            if (end < 0) {
                return null;
            }
            ByteArrayOutputStream rev = new ByteArrayOutputStream();
            long i = end - 1;
            while (i >= 0) {
                f.seek(i);
                int b = f.read();
                if (b == '\n') {
                    break;
                }
                rev.write(b);
                i--;
            }
            byte[] bytes = rev.toByteArray();
            for (int a = 0, z = bytes.length - 1; a < z; a++, z--) {
                byte t = bytes[a];
                bytes[a] = bytes[z];
                bytes[z] = t;
            }
            String line = new String(bytes, StandardCharsets.UTF_8);
            return line.isBlank() ? null : line;
        }
    }

    /** Drops a partial last line (a crash in the middle of a write) so the file ends at a complete event. */
    static long truncatePartialLine(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            return 0;
        }
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            long len = f.length();
            long keep = len;
            while (keep > 0) {
                f.seek(keep - 1);
                if (f.read() == '\n') {
                    break;
                }
                keep--;
            }
            if (keep != len) {
                f.setLength(keep);
            }
            return len - keep;
        }
    }
}
