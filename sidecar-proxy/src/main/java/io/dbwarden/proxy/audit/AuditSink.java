package io.dbwarden.proxy.audit;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A remote destination for audit events. {@link #send} must either deliver the whole batch (2xx) or throw, so the
 * spool keeps undelivered events.
 */
public interface AuditSink {
    void send(List<String> lines) throws IOException, InterruptedException;

    String describe();

    /**
     * A sink from a URL: {@code http(s)://...} posts newline-delimited JSON (one event per line) to that URL;
     * {@code otlp+http(s)://host:port} posts OTLP/HTTP JSON log records to {@code /v1/logs}.
     */
    static AuditSink of(String url, Path tokenFile) {
        if (url.startsWith("otlp+http://") || url.startsWith("otlp+https://")) {
            URI base = URI.create(url.substring("otlp+".length()));
            return new Http(base.resolve(base.getPath().isEmpty() || base.getPath().equals("/") ? "/v1/logs"
                    : base.getPath()), "application/json", tokenFile, true);
        }
        if (url.startsWith("http://") || url.startsWith("https://")) {
            return new Http(URI.create(url), "application/x-ndjson", tokenFile, false);
        }
        throw new IllegalArgumentException("--audit-sink must be an http(s):// or otlp+http(s):// URL: " + url);
    }

    /** HTTP delivery, as NDJSON or as an OTLP logs export request. */
    final class Http implements AuditSink {
        private static final Pattern TIME = Pattern.compile("\"time\":\"([^\"]+)\"");
        private static final Pattern SEQ = Pattern.compile("\"seq\":(\\d+)");
        private final URI uri;
        private final String contentType;
        private final Path tokenFile;
        private final boolean otlp;
        private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

        Http(URI uri, String contentType, Path tokenFile, boolean otlp) {
            this.uri = uri;
            this.contentType = contentType;
            this.tokenFile = tokenFile;
            this.otlp = otlp;
        }

        @Override
        public void send(List<String> lines) throws IOException, InterruptedException {
            String body = otlp ? otlp(lines) : String.join("\n", lines) + "\n";
            HttpRequest.Builder req = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(15))
                    .header("Content-Type", contentType)
                    .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
            if (tokenFile != null) {
                req.header("Authorization", "Bearer " + Files.readString(tokenFile).trim());
            }
            HttpResponse<String> resp = http.send(req.build(), HttpResponse.BodyHandlers.ofString());
            if (resp.statusCode() / 100 != 2) {
                throw new IOException("audit sink " + uri + " answered " + resp.statusCode());
            }
        }

        @Override
        public String describe() {
            return (otlp ? "otlp " : "ndjson ") + uri;
        }

        /** An OTLP ExportLogsServiceRequest in its JSON encoding: one log record per event, the line as body. */
        static String otlp(List<String> lines) {
            AuditLine body = new AuditLine(256 + lines.size() * 700);
            body.ascii("{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
                    + "{\"stringValue\":\"dbwarden-proxy\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"dbwarden.audit\"},"
                    + "\"logRecords\":[");
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i);
                if (i > 0) {
                    body.ascii(',');
                }
                body.ascii("{\"timeUnixNano\":\"").ascii(nanos(line)).ascii("\",\"severityNumber\":9,")
                        .ascii("\"severityText\":\"INFO\",\"body\":{\"stringValue\":").string(line)
                        .ascii("},\"attributes\":[{\"key\":\"dbwarden.audit.seq\",\"value\":{\"intValue\":\"")
                        .ascii(seq(line)).ascii("\"}}]}");
            }
            return body.ascii("]}]}]}").toString();
        }

        private static String nanos(String line) {
            Matcher m = TIME.matcher(line);
            if (!m.find()) {
                return "0";
            }
            try {
                java.time.Instant t = java.time.Instant.parse(m.group(1));
                return Long.toString(t.getEpochSecond() * 1_000_000_000L + t.getNano());
            } catch (java.time.format.DateTimeParseException e) {
                return "0";
            }
        }

        private static String seq(String line) {
            Matcher m = SEQ.matcher(line);
            String last = "0";
            while (m.find()) {
                last = m.group(1);
            }
            return last;
        }
    }
}
