package io.dbwarden.operator;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** A throw-away PKCS#12 server certificate for localhost, made with the JDK's keytool, for the HTTPS tests. */
public class SelfSignedTls implements QuarkusTestResourceLifecycleManager {
    /** The server certificate as PEM, for clients that must verify it. */
    public static volatile Path certificatePem;

    @Override
    public Map<String, String> start() {
        try {
            Path dir = Files.createTempDirectory("operator-tls");
            Path store = dir.resolve("server.p12");
            Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
            Process p = new ProcessBuilder(keytool.toString(), "-genkeypair", "-alias", "server", "-keyalg", "EC",
                    "-dname", "CN=localhost", "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-validity", "2",
                    "-keystore", store.toString(), "-storetype", "PKCS12", "-storepass", "changeit")
                    .redirectErrorStream(true).start();
            if (p.waitFor() != 0) {
                throw new IllegalStateException("keytool failed: " + new String(p.getInputStream().readAllBytes()));
            }
            Path pem = dir.resolve("server.pem");
            Process export = new ProcessBuilder(keytool.toString(), "-exportcert", "-rfc", "-alias", "server",
                    "-keystore", store.toString(), "-storetype", "PKCS12", "-storepass", "changeit",
                    "-file", pem.toString()).redirectErrorStream(true).start();
            if (export.waitFor() != 0) {
                throw new IllegalStateException("keytool export failed");
            }
            certificatePem = pem;
            return Map.of("quarkus.http.ssl.certificate.key-store-file", store.toString(),
                    "quarkus.http.ssl.certificate.key-store-password", "changeit",
                    "quarkus.http.insecure-requests", "disabled");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void stop() {
        // temp files go with the JVM's temp dir
    }
}
