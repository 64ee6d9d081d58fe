package io.dbwarden.proxy.config;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;

/**
 * Reading the files options name, with errors that say which option and what is wrong: the JDK's file exceptions
 * carry only the path as their message.
 */
public final class ConfigFiles {
    private ConfigFiles() {
    }

    /** {@link LiveConfig#readSecret}, failing with a message naming {@code option} and the problem. */
    public static String readSecret(Path file, String option) throws IOException {
        try {
            return LiveConfig.readSecret(file);
        } catch (IOException e) {
            throw new IOException(cannotRead(option, file, e), e);
        }
    }

    /** The file's bytes, failing with a message naming {@code option} and the problem. */
    public static byte[] readBytes(Path file, String option) throws IOException {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IOException(cannotRead(option, file, e), e);
        }
    }

    private static String cannotRead(String option, Path file, IOException e) {
        return "cannot read " + option + " " + file + ": " + describe(e);
    }

    /** What went wrong, in words: "no such file", "permission denied", ... */
    public static String describe(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "no such file";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NotDirectoryException) {
            return "not a directory";
        }
        if (e instanceof CharacterCodingException) {
            return "not UTF-8 text";
        }
        if (e instanceof FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
}
