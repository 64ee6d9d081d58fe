package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.copy.CopyManager;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** Live masking through the real proxy and PostgreSQL, as a client sees it. */
@ExtendWith(LeakDetection.class)
class MaskingIntegrationTest {
    static Path dir;
    static RunCommand.Running masked;
    static RunCommand.Running exempt;
    static Path audit;

    static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: pii
              namespace: test
            spec:
              subjects:
                - identity: "*/*"
              defaultAction: allow
              allowUnparsedStatements: true
              masking:
                exemptSubjects:
                  - identity: ops/*
                columns:
                  - name: emails
                    columns: ["public.m_customers.email", "public.m_big.email"]
                    strategy: partial
                  - name: ssn
                    columns: ["*.*.ssn"]
                    strategy: hash
                  - name: birth
                    columns: ["public.m_customers.birthdate"]
                    strategy: redact
                detectors:
                  - type: creditCard
                    strategy: partial
                  - type: jwt
                    strategy: redact
            """;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("masking-test");
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP VIEW IF EXISTS m_contacts_again, m_contacts, m_contacts_outer");
            s.execute("DROP FUNCTION IF EXISTS m_all()");
            s.execute("DROP FUNCTION IF EXISTS m_raise_notice(), m_raise_error()");
            s.execute("DROP TABLE IF EXISTS m_orders, m_customers, m_big");
            s.execute("CREATE TABLE m_customers (id int PRIMARY KEY, name text, email text, ssn text, "
                    + "birthdate date, notes text, profile jsonb)");
            s.execute("INSERT INTO m_customers VALUES "
                    + "(1, 'Ada', 'ada@example.com', '123-45-6789', '1815-12-10', "
                    + "'card 4242 4242 4242 4242 and token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLXZhbHVl', "
                    + "'{\"email\": \"ada@example.com\"}'),"
                    + "(2, 'Bob', NULL, '123-45-6789', NULL, 'nothing secret here', NULL),"
                    + "(3, 'Cy', 'cy@example.org', '987-65-4321', '2000-01-01', 'order 12345', NULL)");
            s.execute("CREATE TABLE m_orders (id int, customer_id int)");
            s.execute("INSERT INTO m_orders VALUES (10, 1), (11, 3)");
            s.execute("CREATE VIEW m_contacts AS SELECT id, email AS contact, name FROM m_customers");
            s.execute("CREATE VIEW m_contacts_outer AS SELECT contact AS reach FROM m_contacts");
            s.execute("CREATE OR REPLACE FUNCTION m_all() RETURNS SETOF m_customers AS $$ SELECT * FROM m_customers "
                    + "$$ LANGUAGE sql");
            s.execute("CREATE OR REPLACE FUNCTION m_open(r refcursor) RETURNS refcursor AS $$ BEGIN OPEN r FOR "
                    + "SELECT lower(email) AS e, id, email FROM m_customers WHERE id = 1; RETURN r; END $$ "
                    + "LANGUAGE plpgsql");
            s.execute("CREATE OR REPLACE FUNCTION m_raise_notice() RETURNS void AS $$ DECLARE n text; BEGIN "
                    + "SELECT notes INTO n FROM m_customers WHERE id = 1; RAISE NOTICE 'notes: %', n; END $$ "
                    + "LANGUAGE plpgsql");
            s.execute("CREATE OR REPLACE FUNCTION m_raise_error() RETURNS void AS $$ DECLARE n text; BEGIN "
                    + "SELECT notes INTO n FROM m_customers WHERE id = 1; "
                    + "RAISE EXCEPTION 'failed for %', n USING DETAIL = n, HINT = n; END $$ LANGUAGE plpgsql");
            s.execute("CREATE TABLE m_big AS SELECT g AS id, 'user' || g || '@example.com' AS email "
                    + "FROM generate_series(1, 1000000) g");
        }
        Path policy = dir.resolve("policy.yaml");
        Files.writeString(policy, POLICY);
        Path key = dir.resolve("key");
        Files.writeString(key, "test-masking-key");
        audit = dir.resolve("audit.jsonl");
        masked = start(policy, key, "apps/reporting", audit);
        exempt = start(policy, key, "ops/dba", dir.resolve("audit-ops.jsonl"));
    }

    private static RunCommand.Running start(Path policy, Path key, String identity, Path auditFile) throws Exception {
        return CliProxy.start(dir, policy, identity, "--audit", auditFile.toString(), "--masking-key-file",
                key.toString());
    }

    @AfterAll
    static void stop() {
        masked.close();
        exempt.close();
    }

    private static Connection connect(RunCommand.Running r, String params) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", "app");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + r.server().port() + "/"
                + EmbeddedPg.DATABASE + "?sslmode=disable" + params, p);
    }

    private static List<String> column(RunCommand.Running r, String params, String sql) throws SQLException {
        try (Connection c = connect(r, params); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            List<String> values = new ArrayList<>();
            while (rs.next()) {
                values.add(rs.getString(1));
            }
            return values;
        }
    }

    @Test
    void columnsAreMaskedThroughAliasesJoinsAndReturning() throws Exception {
        assertThat(column(masked, "", "SELECT email FROM m_customers ORDER BY id"))
                .containsExactly("a***@example.com", null, "c***@example.org");
        assertThat(column(masked, "", "SELECT email AS e FROM m_customers WHERE id = 1"))
                .containsExactly("a***@example.com");
        assertThat(column(masked, "", "SELECT c.email FROM m_orders o JOIN m_customers c ON c.id = o.customer_id "
                + "ORDER BY o.id")).containsExactly("a***@example.com", "c***@example.org");
        assertThat(column(masked, "", "UPDATE m_customers SET name = name WHERE id = 3 RETURNING email"))
                .containsExactly("c***@example.org");
        assertThat(column(exempt, "", "SELECT email FROM m_customers WHERE id = 1")).containsExactly("ada@example.com");
    }

    @Test
    void expressionsOverMaskedColumnsAreMaskedOthersAreNot() throws Exception {
        // a table listed after a comma in FROM (or after DELETE's USING) is one the expression may read
        assertThat(column(masked, "", "SELECT lower(m.email) FROM m_orders, m_customers m WHERE m.id = 1 LIMIT 1"))
                .containsExactly("a***@example.com");
        assertThat(column(masked, "", "SELECT email || '' FROM (SELECT 1) o, m_customers WHERE id = 3"))
                .containsExactly("c***@example.org");
        // a session's temporary view over a masked column: computed columns, COPY queries and copies through it,
        // also when it shadows a table of the same name
        try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
            s.execute("CREATE TEMP VIEW m_tmp_contacts AS SELECT id, email AS x FROM m_customers");
            s.execute("CREATE TEMP VIEW m_orders AS SELECT id, email AS customer_id FROM m_customers");
            for (String sql : List.of("SELECT lower(x) FROM m_tmp_contacts WHERE id = 1",
                    "SELECT x || '' FROM m_tmp_contacts WHERE id = 1", "SELECT x FROM m_tmp_contacts WHERE id = 1",
                    "SELECT lower(customer_id) FROM m_orders WHERE id = 1")) {
                try (ResultSet rs = s.executeQuery(sql)) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getString(1)).as(sql).isEqualTo("a***@example.com");
                }
            }
            for (String sql : List.of("COPY (SELECT x FROM m_tmp_contacts WHERE id = 1) TO STDOUT",
                    "COPY (SELECT customer_id FROM m_orders WHERE id = 1) TO STDOUT")) {
                java.io.StringWriter out = new java.io.StringWriter();
                c.unwrap(org.postgresql.PGConnection.class).getCopyAPI().copyOut(sql, out);
                // the proxy's connection cannot describe them: ruled by the text, types unknown, so NULL
                assertThat(out.toString()).as(sql).isEqualTo("\\N\n");
            }
            try (ResultSet rs = s.executeQuery("SELECT row_to_json(v) FROM m_tmp_contacts v WHERE id = 1")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("{\"id\":1,\"x\":\"a***@example.com\"}");
            }
            s.execute("CREATE TEMP TABLE m_tmp_copy (v text)");
            assertThatThrownBy(() -> s.execute("INSERT INTO m_tmp_copy SELECT x FROM m_tmp_contacts"))
                    .hasMessageContaining("would write values of masked columns");
        }
        // a session's temporary table shadowing a masked table (of the same shape): the proxy's connection would
        // describe the other table, types and all, so the query's text rules (masked values NULL, valid for any type)
        try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
            s.execute("CREATE TEMP TABLE m_customers (id int, email int)");
            s.execute("INSERT INTO m_customers VALUES (1, 42)");
            java.io.StringWriter text = new java.io.StringWriter();
            c.unwrap(org.postgresql.PGConnection.class).getCopyAPI()
                    .copyOut("COPY (SELECT id, email FROM m_customers) TO STDOUT", text);
            assertThat(text.toString()).isEqualTo("1\t\\N\n");
            java.io.ByteArrayOutputStream binary = new java.io.ByteArrayOutputStream();
            c.unwrap(org.postgresql.PGConnection.class).getCopyAPI()
                    .copyOut("COPY (SELECT email, id FROM m_customers) TO STDOUT (FORMAT binary)", binary);
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(binary.toByteArray());
            b.position(11 + 4); // signature, flags
            b.position(b.position() + 4 + b.getInt(b.position())); // header extension
            assertThat(b.getShort()).isEqualTo((short) 2);
            assertThat(b.getInt()).as("email: NULL").isEqualTo(-1);
            assertThat(b.getInt()).as("id: an int4").isEqualTo(4);
            assertThat(b.getInt()).isEqualTo(1);
            assertThat(b.getShort()).as("trailer").isEqualTo((short) -1);
        }
        // the first table of a parenthesized join
        assertThat(column(masked, "", "SELECT lower(c.email) FROM (m_customers c JOIN m_orders o ON c.id = "
                + "o.customer_id) WHERE o.id = 10")).containsExactly("a***@example.com");
        // MERGE: what its clauses write is judged value by value; a value of a masked column written into a table no
        // rule covers is a copy, refused; its join and WHEN conditions are reads, and RETURNING comes back masked
        EmbeddedPg.execute("DROP TABLE IF EXISTS m_merged", "CREATE TABLE m_merged (v text)");
        try {
            for (String sql : List.of("MERGE INTO m_merged m USING m_customers c ON false WHEN NOT MATCHED THEN "
                            + "INSERT (v) VALUES (c.email) RETURNING m.v",
                    "MERGE INTO m_merged m USING public.m_customers AS c ON false WHEN NOT MATCHED THEN "
                            + "INSERT (v) VALUES (lower(c.email))",
                    "MERGE INTO m_merged m USING (SELECT ssn AS s FROM m_customers) x ON false WHEN NOT MATCHED "
                            + "THEN INSERT VALUES (x.s)",
                    "MERGE INTO m_merged m USING m_customers c ON m.v = c.name WHEN NOT MATCHED THEN "
                            + "INSERT (v) VALUES (CASE WHEN c.id = 1 THEN c::text END)")) {
                try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
                    assertThatThrownBy(() -> s.execute(sql)).as(sql)
                            .hasMessageContaining("would write values of masked columns");
                }
            }
            assertThat(column(exempt, "", "SELECT count(*) FROM m_merged")).containsExactly("0");
            try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
                try (ResultSet rs = s.executeQuery("MERGE INTO m_orders o USING m_customers c "
                        + "ON o.customer_id = c.id WHEN MATCHED THEN UPDATE SET id = o.id "
                        + "RETURNING lower(c.email), c.ssn, o.id")) {
                    List<String> returned = new ArrayList<>();
                    while (rs.next()) {
                        returned.add(rs.getString(1) + " " + rs.getString(2) + " " + rs.getInt(3));
                    }
                    assertThat(returned).hasSize(2).noneMatch(r -> r.contains("ada@") || r.contains("cy@")
                            || r.contains("123-45") || r.contains("987-65"));
                    assertThat(returned).anyMatch(r -> r.startsWith("a***@example.com "));
                }
                try (ResultSet rs = s.executeQuery("MERGE INTO m_orders o USING (SELECT id, email AS e "
                        + "FROM m_customers) x ON o.customer_id = x.id WHEN MATCHED THEN UPDATE SET id = o.id "
                        + "RETURNING x.e")) {
                    List<String> returned = new ArrayList<>();
                    while (rs.next()) {
                        returned.add(rs.getString(1));
                    }
                    assertThat(returned).hasSize(2).noneMatch(v -> v.contains("ada@") || v.contains("cy@"));
                }
                // conditions on masked columns; the name written is not masked
                assertThat(s.executeUpdate("MERGE INTO m_merged m USING m_customers c ON m.v = c.email "
                        + "WHEN NOT MATCHED AND c.email LIKE 'ada%' THEN INSERT (v) VALUES (c.name)")).isEqualTo(1);
            }
            assertThat(column(exempt, "", "SELECT v FROM m_merged")).containsExactly("Ada");
            // a subquery source's columns are judged one by one: its id written, its email not
            try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("MERGE INTO m_merged m USING (SELECT id, email AS e FROM m_customers) x "
                        + "ON m.v = x.e WHEN NOT MATCHED AND x.id = 3 THEN INSERT (v) VALUES (x.id::text)"))
                        .isEqualTo(1);
                assertThatThrownBy(() -> s.execute("MERGE INTO m_merged m USING (SELECT id, email AS e "
                        + "FROM m_customers) x ON false WHEN NOT MATCHED THEN INSERT (v) VALUES (x.id || x.e)"))
                        .hasMessageContaining("would write values of masked columns");
            }
            assertThat(column(exempt, "", "SELECT v FROM m_merged ORDER BY v")).containsExactly("3", "Ada");
            // after WITH queries a statement is judged by what it writes, not by its RETURNING list
            try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
                assertThatThrownBy(() -> s.execute("WITH x AS (SELECT 1) INSERT INTO m_merged (v) "
                        + "SELECT email FROM m_customers RETURNING 1"))
                        .hasMessageContaining("would write values of masked columns");
                assertThat(s.executeUpdate("WITH t AS (SELECT id FROM m_customers WHERE email LIKE 'cy%') "
                        + "INSERT INTO m_merged (v) SELECT name FROM m_customers WHERE id IN (SELECT id FROM t)"))
                        .isEqualTo(1);
            }
            assertThat(column(exempt, "", "SELECT v FROM m_merged ORDER BY v")).containsExactly("3", "Ada", "Cy");
            // copies through a subquery joined after another join's condition, or a WITH query another reads
            try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
                assertThatThrownBy(() -> s.execute("INSERT INTO m_merged (v) SELECT e FROM m_orders o JOIN "
                        + "m_customers c ON c.id = o.customer_id JOIN (SELECT id, email AS e FROM m_customers) x "
                        + "ON x.id = c.id")).hasMessageContaining("would write values of masked columns");
                assertThatThrownBy(() -> s.execute("WITH r AS (SELECT email AS e FROM m_customers), q AS (SELECT e "
                        + "FROM r) INSERT INTO m_merged (v) SELECT e FROM q"))
                        .hasMessageContaining("would write values of masked columns");
            }
            assertThat(column(exempt, "", "SELECT v FROM m_merged ORDER BY v")).containsExactly("3", "Ada", "Cy");
            // and so are those a query computes from them: the id in the clear, the email masked
            try (Connection c = connect(masked, ""); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT s.id * 10, s.e || '' FROM (SELECT id, email AS e "
                         + "FROM m_customers) s WHERE s.id = 1")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).isEqualTo(10);
                assertThat(rs.getString(2)).isNotNull().doesNotContain("ada@");
            }
        } finally {
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_merged");
        }
        try (Connection c = connect(masked, ""); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT lower(email), email || '', count(*) OVER (), upper(name) "
                     + "FROM m_customers WHERE id = 1")) {
            rs.next();
            assertThat(rs.getString(1)).isEqualTo("a***@example.com");
            assertThat(rs.getString(2)).isEqualTo("a***@example.com");
            assertThat(rs.getLong(3)).isEqualTo(1);
            assertThat(rs.getString(4)).isEqualTo("ADA");
        }
        assertThat(column(masked, "", "SELECT (SELECT email FROM m_customers WHERE id = 1)"))
                .containsExactly("a***@example.com");
        assertThat(column(masked, "", "SELECT to_json(c)::text FROM m_customers c WHERE id = 1").get(0))
                .doesNotContain("ada@example.com");
    }

    @Test
    void viewsOfMaskedColumnsAreMaskedAtAnyDepth() throws Exception {
        assertThat(column(masked, "", "SELECT contact FROM m_contacts WHERE id = 1")).containsExactly("a***@example.com");
        assertThat(column(masked, "", "SELECT reach FROM m_contacts_outer")).doesNotContain("ada@example.com",
                "cy@example.org");
    }

    @Test
    void strategiesKeepValuesValidForTheirTypes() throws Exception {
        try (Connection c = connect(masked, ""); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT ssn, birthdate, notes, profile FROM m_customers ORDER BY id")) {
            rs.next();
            String ssn1 = rs.getString(1);
            assertThat(ssn1).startsWith("h:").doesNotContain("6789");
            assertThat(rs.getDate(2)).as("a date cannot hold a marker: NULL").isNull();
            assertThat(rs.getString(3)).isEqualTo("card **** **** **** 4242 and token [redacted]");
            assertThat(rs.getString(4)).isEqualTo("{\"email\": \"ada@example.com\"}"); // no rule, no detector for email
            rs.next();
            assertThat(rs.getString(1)).as("same input, same hash: joins and GROUP BY still work").isEqualTo(ssn1);
            assertThat(rs.getString(3)).isEqualTo("nothing secret here");
            rs.next();
            assertThat(rs.getString(1)).isNotEqualTo(ssn1);
            assertThat(rs.getString(3)).isEqualTo("order 12345");
        }
    }

    @Test
    void binaryResultsOfPreparedStatementsAreMasked() throws Exception {
        try (Connection c = connect(masked, "&prepareThreshold=-1&binaryTransfer=true");
             PreparedStatement ps = c.prepareStatement("SELECT email, ssn FROM m_customers WHERE id = ?")) {
            for (int i = 0; i < 3; i++) {
                ps.setInt(1, 1);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    assertThat(rs.getString(1)).isEqualTo("a***@example.com");
                    assertThat(rs.getString(2)).startsWith("h:");
                }
            }
        }
    }

    @Test
    void allBinaryResultFormatsOverTheRawProtocol() throws Exception {
        List<byte[]> row = binaryRow(masked,
                "SELECT email, birthdate, id, to_jsonb(c) FROM m_customers c WHERE id = 1");
        assertThat(new String(row.get(0), StandardCharsets.UTF_8)).isEqualTo("a***@example.com");
        assertThat(row.get(1)).as("binary date cannot be masked in place: NULL").isNull();
        assertThat(java.nio.ByteBuffer.wrap(row.get(2)).getInt()).isEqualTo(1); // untouched binary int4
        byte[] jsonb = row.get(3);
        assertThat(jsonb[0]).as("binary jsonb keeps its version byte").isEqualTo((byte) 1);
        assertThat(new com.fasterxml.jackson.databind.ObjectMapper().readTree(new String(jsonb, 1, jsonb.length - 1,
                StandardCharsets.UTF_8)).get("email").asText()).isEqualTo("a***@example.com");
    }

    /**
     * The first row of {@code sql} run with the extended protocol over a raw socket, every result column asked for in
     * binary format (one result format code), each value's bytes (null for NULL).
     */
    private static List<byte[]> binaryRow(RunCommand.Running proxy, String query) throws java.io.IOException {
        try (java.net.Socket sock = new java.net.Socket("127.0.0.1", proxy.server().port())) {
            java.io.DataOutputStream out = new java.io.DataOutputStream(sock.getOutputStream());
            java.io.DataInputStream in = new java.io.DataInputStream(sock.getInputStream());
            out.write(io.dbwarden.proxy.testing.RawPg.startup());
            readUntil(in, 'Z');
            byte[] sql = (query + "\0").getBytes(StandardCharsets.UTF_8);
            out.writeByte('P');
            out.writeInt(4 + 1 + sql.length + 2);
            out.writeByte(0);
            out.write(sql);
            out.writeShort(0);
            out.writeByte('B'); // unnamed portal/statement, no params, ONE result format code: binary for all
            out.writeInt(4 + 1 + 1 + 2 + 2 + 2 + 2);
            out.writeByte(0);
            out.writeByte(0);
            out.writeShort(0);
            out.writeShort(0);
            out.writeShort(1);
            out.writeShort(1);
            out.writeByte('D');
            out.writeInt(4 + 1 + 1);
            out.writeByte('P');
            out.writeByte(0);
            out.writeByte('E');
            out.writeInt(4 + 1 + 4);
            out.writeByte(0);
            out.writeInt(0);
            out.writeByte('S');
            out.writeInt(4);
            out.flush();
            List<byte[]> row = null;
            while (true) {
                char type = (char) in.readByte();
                byte[] body = in.readNBytes(in.readInt() - 4);
                if (type == 'D' && row == null) {
                    java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(body);
                    row = new ArrayList<>();
                    for (int c = b.getShort(); c > 0; c--) {
                        int len = b.getInt();
                        byte[] v = len < 0 ? null : new byte[len];
                        if (v != null) {
                            b.get(v);
                        }
                        row.add(v);
                    }
                }
                if (type == 'Z') {
                    assertThat(row).as(query).isNotNull();
                    return row;
                }
            }
        }
    }

    private static void readUntil(java.io.DataInputStream in, char last) throws java.io.IOException {
        while (true) {
            char type = (char) in.readByte();
            in.readNBytes(in.readInt() - 4);
            if (type == last) {
                return;
            }
        }
    }

    @Test
    void auditEventsCountMaskedValuesWithoutTheValues() throws Exception {
        column(masked, "", "SELECT email, birthdate FROM m_customers WHERE id IN (1, 3)");
        await().atMost(5, TimeUnit.SECONDS).until(() -> Files.readString(audit).contains("\"masked\""));
        String log = Files.readString(audit);
        assertThat(log).contains("\"column public.m_customers.email pii/emails:partial\":2")
                .contains("\"nullified (type 1082) column public.m_customers.birthdate pii/birth:redact\":2");
        assertThat(log).doesNotContain("ada@example.com").doesNotContain("4242 4242").doesNotContain("123-45-6789");
    }

    private static String copyOut(RunCommand.Running r, String sql) throws Exception {
        try (Connection c = connect(r, "")) {
            java.io.StringWriter out = new java.io.StringWriter();
            c.unwrap(org.postgresql.PGConnection.class).getCopyAPI().copyOut(sql, out);
            return out.toString();
        }
    }

    @Test
    void copyToStdoutIsMaskedInTextAndCsv() throws Exception {
        String text = copyOut(masked, "COPY m_customers (id, email, birthdate, notes) TO STDOUT");
        assertThat(text.split("\n")).containsExactly(
                "1\ta***@example.com\t\\N\tcard **** **** **** 4242 and token [redacted]",
                "2\t\\N\t\\N\tnothing secret here",
                "3\tc***@example.org\t\\N\torder 12345");
        String csv = copyOut(masked, "COPY public.m_customers (id, email) TO STDOUT WITH (FORMAT csv, HEADER true)");
        assertThat(csv.split("\n")).containsExactly("id,email", "1,a***@example.com", "2,", "3,c***@example.org");
        // HEADER off in its other spellings: no header line, so the first row is masked like the others
        for (String sql : List.of("COPY m_customers (id, email) TO STDOUT WITH (FORMAT csv, HEADER off)",
                "COPY m_customers (id, email) TO STDOUT WITH (FORMAT 'csv', HEADER 0)",
                "COPY (SELECT id, email AS header FROM m_customers) TO STDOUT WITH (FORMAT csv, FORCE_QUOTE (header))")) {
            assertThat(copyOut(masked, sql)).as(sql).doesNotContain("ada@example.com").contains("a***@example.com")
                    .contains("c***@example.org");
        }
        // the old spelling of FORCE QUOTE, as older tools write it: a row with a masked value, written again, keeps
        // the server's quoting
        assertThat(copyOut(masked, "COPY m_customers (id, email) TO STDOUT WITH CSV HEADER FORCE QUOTE *")
                .split("\n")).containsExactly("id,email", "\"1\",\"a***@example.com\"", "\"2\",",
                        "\"3\",\"c***@example.org\"");
        // a query's columns as the server describes them: masked as the same query's result is
        String query = copyOut(masked, "COPY (SELECT id, lower(email) FROM m_customers ORDER BY id) TO STDOUT");
        assertThat(query.split("\n")).containsExactly("1\ta***@example.com", "2\t\\N", "3\tc***@example.org");
        String all = copyOut(masked, "COPY (SELECT * FROM m_customers WHERE id = 1) TO STDOUT WITH (FORMAT csv)");
        assertThat(all).startsWith("1,Ada,a***@example.com,").contains("card **** **** **** 4242 and token [redacted]")
                .doesNotContain("123-45-6789", "1815-12-10", "4242 4242")
                .endsWith(",\"{\"\"email\"\": \"\"ada@example.com\"\"}\"\n"); // no rule names profile
        assertThat(copyOut(masked, "COPY (SELECT c.name, o.id FROM m_orders o JOIN m_customers c ON c.id = "
                + "o.customer_id ORDER BY o.id) TO STDOUT")).isEqualTo("Ada\t10\nCy\t11\n");
        // a column of a domain over text is masked as text, not nulled
        EmbeddedPg.execute("DROP TABLE IF EXISTS m_domained", "DROP DOMAIN IF EXISTS m_ssn_text",
                "CREATE DOMAIN m_ssn_text AS text", "CREATE TABLE m_domained (id int, ssn m_ssn_text)",
                "INSERT INTO m_domained VALUES (1, '123-45-6789')");
        try {
            String hashed = column(masked, "", "SELECT ssn FROM m_domained").get(0);
            assertThat(hashed).startsWith("h:");
            assertThat(copyOut(masked, "COPY m_domained TO STDOUT")).isEqualTo("1\t" + hashed + "\n");
            assertThat(copyOut(masked, "COPY m_domained (ssn) TO STDOUT WITH (FORMAT csv)")).isEqualTo(hashed + "\n");
            assertThat(binaryCopy(copyOutBytes(masked, "COPY m_domained (ssn) TO STDOUT WITH (FORMAT binary)")))
                    .extracting(r -> text(r.get(0))).containsExactly(hashed);
        } finally {
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_domained", "DROP DOMAIN IF EXISTS m_ssn_text");
        }
        // a query the proxy's own connection cannot describe (it reads the session's temporary table): ruled by its
        // text, the types unknown, so a masked column is NULL
        try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
            s.execute("CREATE TEMP TABLE m_scratch (v text)");
            s.execute("INSERT INTO m_scratch VALUES ('kept')");
            java.io.StringWriter out = new java.io.StringWriter();
            c.unwrap(org.postgresql.PGConnection.class).getCopyAPI().copyOut("COPY (SELECT v, m.email FROM m_scratch,"
                    + " m_customers m WHERE m.id = 1) TO STDOUT", out);
            assertThat(out.toString()).isEqualTo("kept\t\\N\n");
            // the proxy's connection is out of the failed description's transaction: the next query is described
            out = new java.io.StringWriter();
            c.unwrap(org.postgresql.PGConnection.class).getCopyAPI().copyOut("COPY (SELECT upper(email) FROM "
                    + "m_customers WHERE id = 3) TO STDOUT", out);
            assertThat(out.toString()).isEqualTo("C***@EXAMPLE.ORG\n");
            // the session goes on
            try (ResultSet rs = s.executeQuery("SELECT email FROM m_customers WHERE id = 3")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("c***@example.org");
            }
        }
        assertThat(copyOut(exempt, "COPY (SELECT email FROM m_customers WHERE id = 1) TO STDOUT"))
                .isEqualTo("ada@example.com\n");
    }

    /**
     * Binary COPY (what DuckDB's postgres scanner, Npgsql's binary export and bulk loaders read) is masked as text COPY
     * is: a text column's value in its binary form is its text, masked in place with the tuple's lengths written
     * again; a masked value of another type becomes NULL; columns of a COPY (query) whose types are unknown here
     * become NULL when masked. The stream stays one the client reads, and an exempt identity gets the server's bytes.
     */
    @Test
    void copyToInBinaryFormatIsMasked() throws Exception {
        String table = "COPY m_customers (id, email, birthdate, ssn, notes, profile) TO STDOUT WITH (FORMAT binary)";
        List<List<byte[]>> rows = binaryCopy(copyOutBytes(masked, table));
        assertThat(rows).hasSize(3);
        assertThat(rows).extracting(r -> java.nio.ByteBuffer.wrap(r.get(0)).getInt()).containsExactly(1, 2, 3);
        assertThat(rows).extracting(r -> text(r.get(1))).containsExactly("a***@example.com", null, "c***@example.org");
        assertThat(rows).extracting(r -> r.get(2)).containsOnlyNulls(); // a date under a redacting rule: NULL
        assertThat(rows).extracting(r -> text(r.get(3))).doesNotContain("123-45-6789", "987-65-4321")
                .doesNotContainNull();
        assertThat(text(rows.get(0).get(4))).isEqualTo("card **** **** **** 4242 and token [redacted]");
        assertThat(text(rows.get(1).get(4))).isEqualTo("nothing secret here");
        // jsonb keeps its version byte
        assertThat(rows.get(0).get(5)[0]).isEqualTo((byte) 1);
        assertThat(text(rows.get(0).get(5)).substring(1)).isEqualTo("{\"email\": \"ada@example.com\"}");
        // a query's columns, as the server describes them
        List<List<byte[]>> query = binaryCopy(copyOutBytes(masked,
                "COPY (SELECT id, lower(email), birthdate FROM m_customers ORDER BY id) TO STDOUT (FORMAT binary)"));
        assertThat(query).extracting(r -> text(r.get(1))).containsExactly("a***@example.com", null,
                "c***@example.org");
        assertThat(query).extracting(r -> r.get(2)).containsOnlyNulls();
        assertThat(query).extracting(r -> java.nio.ByteBuffer.wrap(r.get(0)).getInt()).containsExactly(1, 2, 3);
        // the old spelling, and an exempt identity: the server's own bytes
        assertThat(binaryCopy(copyOutBytes(masked, "COPY m_customers (email) TO STDOUT BINARY")))
                .extracting(r -> text(r.get(0))).contains("a***@example.com");
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE)) {
            assertThat(copyOutBytes(exempt, table)).isEqualTo(copyOutBytes(c, table));
            // nothing to mask in a table: its stream as the server sent it
            String orders = "COPY m_orders TO STDOUT (FORMAT binary)";
            assertThat(copyOutBytes(masked, orders)).isEqualTo(copyOutBytes(c, orders));
        }
        // a stream in another encoding is still refused; COPY FROM is not affected
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> copyOutBytes(masked,
                        "COPY m_customers TO STDOUT WITH (FORMAT binary, ENCODING 'LATIN1')"))
                .hasMessageContaining("cannot be masked");
        try (Connection c = connect(masked, "")) {
            c.createStatement().execute("CREATE TEMP TABLE m_import (v text)");
            assertThat(c.unwrap(org.postgresql.PGConnection.class).getCopyAPI()
                    .copyIn("COPY m_import FROM STDIN", new java.io.StringReader("x\n"))).isEqualTo(1);
        }
    }

    private static byte[] copyOutBytes(RunCommand.Running r, String sql) throws Exception {
        try (Connection c = connect(r, "")) {
            return copyOutBytes(c, sql);
        }
    }

    private static byte[] copyOutBytes(Connection c, String sql) throws Exception {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        c.unwrap(org.postgresql.PGConnection.class).getCopyAPI().copyOut(sql, out);
        return out.toByteArray();
    }

    /** The tuples of a binary COPY stream (null for NULL), checking its header, lengths and trailer. */
    static List<List<byte[]>> binaryCopy(byte[] stream) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(stream);
        byte[] signature = new byte[11];
        b.get(signature);
        assertThat(signature).isEqualTo("PGCOPY\n\u00ff\r\n\0".getBytes(StandardCharsets.ISO_8859_1));
        b.getInt();
        b.position(b.position() + 4 + b.getInt(b.position()));
        List<List<byte[]>> rows = new java.util.ArrayList<>();
        for (short n = b.getShort(); n != -1; n = b.getShort()) {
            List<byte[]> row = new java.util.ArrayList<>();
            for (int i = 0; i < n; i++) {
                int len = b.getInt();
                byte[] v = len < 0 ? null : new byte[len];
                if (v != null) {
                    b.get(v);
                }
                row.add(v);
            }
            rows.add(row);
        }
        assertThat(b.hasRemaining()).as("bytes after the trailer").isFalse();
        return rows;
    }

    private static String text(byte[] v) {
        return v == null ? null : new String(v, StandardCharsets.UTF_8);
    }

    @Test
    void psqlSeesMaskedValues() throws Exception {
        Path psql = Path.of("/usr/bin/psql");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(psql), "psql is not installed");
        ProcessBuilder pb = new ProcessBuilder(psql.toString(), "-X", "-At", "-h", "127.0.0.1", "-p",
                String.valueOf(masked.server().port()), "-U", "app", "-d", EmbeddedPg.DATABASE, "-c",
                "SELECT email, notes FROM m_customers WHERE id = 1", "-c",
                "\\copy (SELECT email FROM m_customers WHERE id = 3) TO STDOUT");
        pb.environment().put("PGSSLMODE", "disable");
        Process p = pb.start();
        p.getOutputStream().close();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(out).isEqualTo("a***@example.com|card **** **** **** 4242 and token [redacted]\nc***@example.org\n");
    }

    @Test
    void ddlThroughTheProxyRefreshesColumnNames() throws Exception {
        try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE m_renamed (id int, contact text)");
            s.execute("INSERT INTO m_renamed VALUES (1, 'x@example.com')");
            try (ResultSet rs = s.executeQuery("SELECT contact FROM m_renamed")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("x@example.com"); // not a masked column (yet)
            }
            s.execute("ALTER TABLE m_renamed RENAME COLUMN contact TO ssn"); // now it matches *.*.ssn
            try (ResultSet rs = s.executeQuery("SELECT ssn FROM m_renamed")) {
                rs.next();
                assertThat(rs.getString(1)).startsWith("h:");
            }
            s.execute("DROP TABLE m_renamed");
        }
    }

    @Test
    void millionRowResultStreamsMasked() throws Exception {
        // paranoid leak tracking records a stack trace per buffer: fine for the other tests, minutes for a
        // million rewritten rows; buffer handling on this path is the same as in the tests above
        io.netty.util.ResourceLeakDetector.Level level = io.netty.util.ResourceLeakDetector.getLevel();
        io.netty.util.ResourceLeakDetector.setLevel(io.netty.util.ResourceLeakDetector.Level.SIMPLE);
        long start = System.nanoTime();
        try (Connection c = connect(masked, "")) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.setFetchSize(20_000);
                long rows = 0;
                long maskedRows = 0;
                try (ResultSet rs = s.executeQuery("SELECT id, email FROM m_big")) {
                    while (rs.next()) {
                        rows++;
                        if (rs.getString(2).startsWith("u***@example.com")) {
                            maskedRows++;
                        }
                    }
                }
                assertThat(rows).isEqualTo(1_000_000);
                assertThat(maskedRows).isEqualTo(1_000_000);
            }
            c.commit();
        } finally {
            io.netty.util.ResourceLeakDetector.setLevel(level);
        }
        System.out.printf("masked 1M rows in %d ms%n", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
    }

    @Test
    void cursorsAndSqlLevelPreparedStatementsAreMaskedLikeTheirQueries() throws Exception {
        try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            s.execute("DECLARE cur CURSOR FOR SELECT lower(email), email FROM m_customers WHERE id = 1");
            try (ResultSet rs = s.executeQuery("FETCH ALL FROM cur")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("a***@example.com"); // lineage of the DECLARE's query
                assertThat(rs.getString(2)).isEqualTo("a***@example.com");
            }
            // a cursor opened inside the server (a refcursor from a function): what its computed columns are made
            // of is unknown to the proxy, so they are redacted; columns of tables are masked as always
            s.execute("SELECT m_open('fn_cur')");
            try (ResultSet rs = s.executeQuery("FETCH ALL FROM fn_cur")) {
                rs.next();
                assertThat(rs.getString(1)).doesNotContain("ada").doesNotContain("example.com");
                assertThat(rs.getInt(2)).isEqualTo(1);
                assertThat(rs.getString(3)).isEqualTo("a***@example.com");
            }
            c.commit();
            s.execute("PREPARE pp AS SELECT lower(email) FROM m_customers WHERE id = $1");
            try (ResultSet rs = s.executeQuery("EXECUTE pp(1)")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("a***@example.com");
            }
            c.commit();
        }
    }


    @Test
    void statementsAndCursorsMadeWithSqlCannotBeBoundOrExecutedAroundTheirChecks() throws Exception {
        try (java.net.Socket sock = new java.net.Socket("127.0.0.1", masked.server().port())) {
            sock.setSoTimeout(10_000);
            var out = sock.getOutputStream();
            java.io.DataInputStream in = new java.io.DataInputStream(sock.getInputStream());
            out.write(io.dbwarden.proxy.testing.RawPg.startup());
            io.dbwarden.proxy.testing.RawPg.untilReady(in);
            out.write(io.dbwarden.proxy.testing.RawPg.message('Q',
                    "PREPARE sq AS SELECT lower(email) FROM m_customers WHERE id = 1\0"));
            assertThat(io.dbwarden.proxy.testing.RawPg.untilReady(in)).noneMatch(m -> m.startsWith("E"));
            // Bind to the SQL-prepared statement: the proxy never judged (or masked) what it runs
            out.write(io.dbwarden.proxy.testing.RawPg.message('B', "\0sq\0\0\0\0\0\0\0"));
            out.write(io.dbwarden.proxy.testing.RawPg.message('E', "\0\0\0\0\0"));
            out.write(io.dbwarden.proxy.testing.RawPg.message('S', ""));
            List<String> bound = io.dbwarden.proxy.testing.RawPg.untilReady(in);
            assertThat(bound).noneMatch(m -> m.startsWith("D"));
            assertThat(bound).anyMatch(m -> m.startsWith("E") && m.contains("C26000\0") && m.contains("sq"));

            out.write(io.dbwarden.proxy.testing.RawPg.message('Q',
                    "BEGIN; DECLARE dc CURSOR FOR SELECT lower(email) FROM m_customers WHERE id = 1\0"));
            assertThat(io.dbwarden.proxy.testing.RawPg.untilReady(in)).noneMatch(m -> m.startsWith("E"));
            // Execute on the SQL cursor's portal directly
            out.write(io.dbwarden.proxy.testing.RawPg.message('E', "dc\0\0\0\0\0"));
            out.write(io.dbwarden.proxy.testing.RawPg.message('S', ""));
            List<String> executed = io.dbwarden.proxy.testing.RawPg.untilReady(in);
            assertThat(executed).noneMatch(m -> m.startsWith("D"));
            assertThat(executed).anyMatch(m -> m.startsWith("E") && m.contains("C34000\0"));
            assertThat(executed.get(executed.size() - 1)).isEqualTo("ZE"); // the transaction failed, as on a server error
            out.write(io.dbwarden.proxy.testing.RawPg.message('Q', "ROLLBACK\0"));
            io.dbwarden.proxy.testing.RawPg.untilReady(in);
            // the session goes on, and FETCH reads the same data masked
            out.write(io.dbwarden.proxy.testing.RawPg.message('Q',
                    "BEGIN; DECLARE dc CURSOR FOR SELECT lower(email) FROM m_customers WHERE id = 1; FETCH ALL FROM dc; "
                            + "COMMIT\0"));
            List<String> fetched = io.dbwarden.proxy.testing.RawPg.untilReady(in);
            assertThat(fetched).noneMatch(m -> m.startsWith("E"));
            assertThat(fetched).anyMatch(m -> m.startsWith("D") && m.contains("a***@example.com"))
                    .noneMatch(m -> m.contains("ada@example.com"));
        }
    }

    @Test
    void xmlStaysWellFormedWithItsValuesMasked() throws Exception {
        String xml = column(masked, "", "SELECT xmlelement(name e, xmlattributes(email AS a), email, "
                + "xmlelement(name n, name)) FROM m_customers WHERE id = 1").get(0);
        assertThat(xml).isEqualTo("<e a=\"a***@example.com\">a***@example.com<n>A**</n></e>");
        assertThat(column(masked, "", "SELECT xmlforest(email, id) FROM m_customers WHERE id = 1"))
                .containsExactly("<email>a***@example.com</email><id>*</id>");
    }

    /**
     * What a writing WITH query returns is judged per RETURNING item, as a subquery's select list is: its other
     * columns come back as they are, what names a masked column (under any label) or the whole row stays masked.
     */
    @Test
    void columnsReturnedByWritingWithQueriesAreJudgedOneByOne() throws Exception {
        String touch = "WITH u AS (UPDATE m_customers SET name = name WHERE id = 1 RETURNING ";
        assertThat(column(masked, "", touch + "id, name) SELECT upper(u.name) || u.id FROM u"))
                .containsExactly("ADA1");
        assertThat(column(masked, "", touch + "id, email) SELECT u.email || '' FROM u"))
                .containsExactly("a***@example.com");
        assertThat(column(masked, "", touch + "id, email) SELECT u.id, u.email FROM u")).containsExactly("1");
        assertThat(column(masked, "", touch + "id, email AS contact) SELECT lower(u.contact) FROM u"))
                .containsExactly("a***@example.com");
        assertThat(column(masked, "", touch + "*) SELECT u.email || '' FROM u")).containsExactly("a***@example.com");
        assertThat(column(masked, "", touch + "m_customers AS r) SELECT u.r::text FROM u").get(0))
                .doesNotContain("ada@");
        // the writing WITH query copies nothing masked (x is no row it reads), and what it returns comes out masked
        assertThat(column(masked, "", "WITH x AS (SELECT email FROM m_customers), u AS (UPDATE m_customers SET name = "
                + "name WHERE id = 1 RETURNING id, email) SELECT u.email || u.id FROM u")).containsExactly(
                "a***@example.com1");
        // a WITH query read only in a condition gives the main query no columns; one read in its FROM list does
        assertThat(column(masked, "", "WITH r AS (SELECT email AS name FROM m_customers) SELECT upper(name) FROM "
                + "m_customers WHERE id IN (SELECT 1 FROM r)")).containsExactly("ADA");
        assertThat(column(masked, "", "WITH r AS (SELECT email AS name FROM m_customers WHERE id = 1) SELECT "
                + "upper(name) FROM r")).noneMatch(v -> v.contains("ADA@"));
        assertThat(column(masked, "", "WITH d AS (DELETE FROM m_orders WHERE id = -1 RETURNING id) "
                + "SELECT count(*) || '' FROM d")).containsExactly("0");
    }

    /**
     * Computed columns reading a masked column through a WITH query that another row reads, or through a subquery
     * joined after another join's condition: the server names no origin for them, and they come out masked.
     */
    @Test
    void columnsReadThroughRowsThatReadOthersAreMasked() throws Exception {
        String r = "WITH r AS (SELECT id, email AS name FROM m_customers WHERE id = 1) ";
        assertThat(column(masked, "", r + ", q AS (SELECT name FROM r) SELECT upper(name) FROM q"))
                .containsExactly("A***@EXAMPLE.COM");
        assertThat(column(masked, "", r + "SELECT upper(name) FROM (SELECT name FROM r) s"))
                .containsExactly("A***@EXAMPLE.COM");
        assertThat(column(masked, "", r + "SELECT upper(name) FROM m_orders o JOIN LATERAL (SELECT name FROM r) b "
                + "ON true WHERE o.id = 10")).containsExactly("A***@EXAMPLE.COM");
        assertThat(column(masked, "", "SELECT upper(e) FROM m_orders o JOIN m_customers c ON c.id = o.customer_id "
                + "JOIN (SELECT id, email AS e FROM m_customers) s ON s.id = c.id WHERE o.id = 10"))
                .containsExactly("A***@EXAMPLE.COM");
        assertThat(column(masked, "", "SELECT upper(e) FROM m_orders o JOIN m_customers c ON c.id = o.customer_id, "
                + "(SELECT id, email AS e FROM m_customers) s WHERE s.id = c.id AND o.id = 10"))
                .containsExactly("A***@EXAMPLE.COM");
        assertThat(column(masked, "", "SELECT upper(e) FROM m_customers AS c (i, n, e) WHERE i = 1"))
                .containsExactly("A***@EXAMPLE.COM");
        assertThat(column(masked, "", "SELECT lower(c.n) FROM m_orders o JOIN m_customers c (i, n, e) ON c.i = "
                + "o.customer_id WHERE o.id = 10").get(0)).doesNotContain("ada");
        // an unqualified name is a column of a subquery only if it has one of that name; a LATERAL one may read others
        assertThat(column(masked, "", "SELECT upper(name) FROM m_customers c JOIN (SELECT id, email FROM m_customers) "
                + "s ON s.id = c.id WHERE c.id = 1")).containsExactly("ADA");
        assertThat(column(masked, "", "SELECT upper(x) FROM (SELECT id, email AS e FROM m_customers WHERE id = 1) s, "
                + "LATERAL (SELECT e AS x) b")).containsExactly("A***@EXAMPLE.COM");
        // what only a condition reads still gives no column
        assertThat(column(masked, "", r + ", q AS (SELECT name FROM r) SELECT upper(name) FROM m_customers "
                + "WHERE id IN (SELECT 1 FROM q)")).containsExactly("ADA");
    }

    @Test
    void wholeRowsOfSubqueriesAndWithQueriesAreMasked() throws Exception {
        // a row of a subquery or WITH query is not a table's row: it may carry a masked column under another name
        assertThat(column(masked, "", "SELECT t FROM (SELECT email AS contact FROM m_customers WHERE id = 1) t"))
                .containsExactly((String) null); // a record cannot hold a masked text: NULL
        assertThat(column(masked, "", "SELECT t::text FROM (SELECT email AS contact FROM m_customers WHERE id = 1) t")
                .get(0)).doesNotContain("ada@");
        assertThat(column(masked, "", "WITH t AS (SELECT email FROM m_customers WHERE id = 1) SELECT t FROM t"))
                .containsExactly((String) null);
        assertThat(column(masked, "", "WITH t(x) AS MATERIALIZED (SELECT email FROM m_customers WHERE id = 1) "
                + "SELECT t::text FROM t").get(0)).doesNotContain("ada@");
        assertThat(column(masked, "", "SELECT s::text FROM (SELECT c AS y FROM m_customers c WHERE id = 1) s").get(0))
                .doesNotContain("ada@");
        assertThat(column(masked, "", "SELECT o.id, t::text FROM m_orders o JOIN LATERAL (SELECT email FROM "
                + "m_customers c WHERE c.id = o.customer_id) t ON true ORDER BY o.id")).noneMatch(v -> v.contains("@"));
        // columns of a subquery the server names no origin for (a renamed row, VALUES, a UNION): masked when what
        // makes the subquery reads masked values
        assertThat(column(masked, "", "SELECT y::text FROM (SELECT c AS y FROM m_customers c WHERE id = 1) s").get(0))
                .doesNotContain("ada@", "Ada");
        assertThat(column(masked, "", "SELECT x::text FROM (SELECT (SELECT c FROM m_customers c WHERE id = 1) AS x) s")
                .get(0)).doesNotContain("ada@", "Ada");
        assertThat(column(masked, "", "SELECT z FROM (VALUES ((SELECT email FROM m_customers WHERE id = 1))) v(z)"))
                .containsExactly("a***@example.com");
        assertThat(column(masked, "", "SELECT q.e FROM (SELECT email AS e FROM m_customers WHERE id = 1 UNION ALL "
                + "SELECT 'x') q")).containsExactly("a***@example.com", "*");
        assertThat(column(masked, "", "WITH t AS (SELECT lower(email) AS m FROM m_customers WHERE id = 1) "
                + "SELECT upper(m) FROM t")).noneMatch(v -> v.contains("ADA@"));
        assertThat(column(masked, "", "SELECT q.y FROM (SELECT x || '' AS y FROM (SELECT email AS x FROM m_customers "
                + "WHERE id = 1) i) q")).containsExactly("a***@example.com");
        assertThat(column(masked, "", "SELECT q.e FROM ((SELECT email AS e FROM m_customers WHERE id = 1) UNION "
                + "(SELECT 'x')) q")).containsExactlyInAnyOrder("*", "a***@example.com");
        assertThat(column(masked, "", "SELECT w.a FROM (WITH z AS (SELECT email || '' AS a FROM m_customers WHERE "
                + "id = 1) SELECT a FROM z) w")).containsExactly("a***@example.com");
        assertThat(column(masked, "", "SELECT u || '' FROM unnest(ARRAY[(SELECT email FROM m_customers WHERE id = 1)]) "
                + "u")).containsExactly("a***@example.com");
        // a function in FROM without an alias goes by its name; a column list after the alias is not the row's source
        assertThat(column(masked, "", "SELECT value FROM m_customers c, json_each_text(row_to_json(c)) WHERE id = 1"))
                .noneMatch(v -> v != null && (v.contains("ada@") || v.contains("Ada") || v.contains("6789")));
        assertThat(column(masked, "", "SELECT unnest FROM unnest(ARRAY(SELECT email FROM m_customers WHERE id = 1))"))
                .containsExactly("a***@example.com");
        assertThat(column(masked, "", "SELECT v FROM m_customers c CROSS JOIN LATERAL (VALUES (c.email)) AS t(v) "
                + "WHERE id = 1")).containsExactly("a***@example.com");
        assertThat(column(masked, "", "SELECT u.v FROM unnest(ARRAY(SELECT email FROM m_customers WHERE id = 1)) "
                + "AS u(v)")).containsExactly("a***@example.com");
        // what a subquery only filters on, or a subquery inside a condition, is not output
        assertThat(column(masked, "", "SELECT q.n + 1 FROM (SELECT id AS n FROM m_customers WHERE email LIKE 'a%' "
                + "UNION SELECT 0) q ORDER BY 1")).containsExactly("1", "2");
        assertThat(column(masked, "", "SELECT upper(name) FROM m_customers WHERE id IN (SELECT id FROM (SELECT id, "
                + "email FROM m_customers) t) ORDER BY id")).containsExactly("ADA", "BOB", "CY");
        // a subquery in the select list that reads another table passes no row of it (the policy's *.*.ssn rule could
        // be in any table's row); one that selects a whole row does
        assertThat(column(masked, "", "SELECT (SELECT count(*) FROM m_orders o WHERE o.customer_id = c.id) AS n "
                + "FROM m_customers c WHERE id = 1")).containsExactly("1");
        assertThat(column(masked, "", "SELECT EXISTS (SELECT 1 FROM m_orders JOIN m_customers x ON x.id = "
                + "m_orders.customer_id WHERE x.id = c.id) FROM m_customers c WHERE id = 1")).containsExactly("t");
        assertThat(column(masked, "", "SELECT (SELECT c FROM m_customers c WHERE id = 1)::text").get(0))
                .doesNotContain("ada@", "Ada");
        // a subquery's whole row carries what its select list outputs: all of a masked table's row with *, nothing
        // masked when it selects other columns (the *.*.ssn rule could be in any table's row)
        assertThat(column(masked, "", "SELECT t::text FROM (SELECT * FROM m_customers WHERE id = 1) t").get(0))
                .doesNotContain("ada@", "Ada");
        assertThat(column(masked, "", "SELECT json_agg(t ORDER BY id) FROM (SELECT id, customer_id FROM m_orders) t"))
                .containsExactly("[{\"id\":10,\"customer_id\":1}, \n {\"id\":11,\"customer_id\":3}]");
        // FROM inside an expression is no FROM list: what follows it is read
        assertThat(column(masked, "", "SELECT extract(year from birthdate) FROM m_customers WHERE id = 1"))
                .containsExactly((String) null);
        assertThat(column(masked, "", "SELECT trim(both ' ' from email) FROM m_customers WHERE id = 1"))
                .containsExactly("a***@example.com");
        try (Connection c = connect(masked, ""); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT 1 IS DISTINCT FROM 2, email || '' FROM m_customers WHERE id = 1")) {
            rs.next();
            assertThat(rs.getString(2)).isEqualTo("a***@example.com");
        }
        // a count outputs no value it counts
        assertThat(column(masked, "", "SELECT count(c.*) FROM m_customers c")).containsExactly("3");
        assertThat(column(masked, "", "SELECT count(DISTINCT email) FROM m_customers")).containsExactly("2");
        assertThat(column(masked, "", "SELECT count(z) FROM (VALUES ((SELECT email FROM m_customers WHERE id = 1))) "
                + "v(z)")).containsExactly("1");
        assertThat(column(masked, "", "SELECT count(email) || max(email) FROM m_customers").get(0))
                .doesNotContain("cy@");
        // a product is no SELECT *, a label no whole row, whatever it is called; an operand after a keyword is no label
        assertThat(column(masked, "", "SELECT o.id * 2 AS m_customers FROM m_orders o WHERE id = 10"))
                .containsExactly("20");
        assertThat(column(masked, "", "SELECT count(o.id) m_orders FROM m_orders o")).containsExactly("2");
        assertThat(column(masked, "", "SELECT NOT email IS NULL FROM m_customers WHERE id = 1"))
                .containsExactly((String) null);
        // counting rows of such a subquery reads no value
        assertThat(column(masked, "", "SELECT count(*) AS n FROM (SELECT email FROM m_customers UNION ALL "
                + "SELECT 'x') q")).containsExactly("4");
        assertThat(column(masked, "", "SELECT q.n FROM (SELECT id AS n FROM m_customers UNION ALL SELECT 0) q "
                + "ORDER BY 1")).containsExactly("0", "1", "2", "3");
        // named columns of a subquery keep their origin: masked by their own rule, others as they are
        assertThat(column(masked, "",
                "SELECT t.contact FROM (SELECT email AS contact FROM m_customers WHERE id = 1) t"))
                .containsExactly("a***@example.com");
        assertThat(column(masked, "", "SELECT count(*) total FROM m_customers")).containsExactly("3");
        assertThat(column(exempt, "", "SELECT t::text FROM (SELECT email FROM m_customers WHERE id = 1) t"))
                .containsExactly("(ada@example.com)");
    }

    @Test
    void jsonOfMaskedRowsStaysValidJsonWithOnlyTheMaskedMembersMasked() throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        for (String sql : List.of("SELECT row_to_json(c) FROM m_customers c WHERE id = 1",
                "SELECT to_jsonb(c.*) AS doc FROM m_customers c WHERE id = 1",
                "SELECT to_json(m_customers)::text FROM m_customers WHERE id = 1")) {
            com.fasterxml.jackson.databind.JsonNode row = json.readTree(column(masked, "", sql).get(0));
            assertThat(row.get("id").asInt()).as(sql).isEqualTo(1);
            assertThat(row.get("name").asText()).as(sql).isEqualTo("Ada");
            assertThat(row.get("email").asText()).as(sql).isEqualTo("a***@example.com");
            assertThat(row.get("ssn").asText()).as(sql).startsWith("h:");
            assertThat(row.get("birthdate").asText()).as(sql).isEqualTo("[redacted]");
            assertThat(row.get("notes").asText()).as(sql + ": detectors as for the column itself")
                    .isEqualTo("card **** **** **** 4242 and token [redacted]");
            assertThat(row.get("profile").get("email").asText()).as(sql).isEqualTo("a***@example.com");
        }
        com.fasterxml.jackson.databind.JsonNode all = json.readTree(column(masked, "",
                "SELECT json_agg(c ORDER BY c.id) FROM m_customers c").get(0));
        assertThat(all).hasSize(3);
        assertThat(all.get(1).get("email").isNull()).isTrue();
        assertThat(all.get(2).get("email").asText()).isEqualTo("c***@example.org");
        assertThat(all.get(2).get("notes").asText()).isEqualTo("order 12345");
        assertThat(column(exempt, "", "SELECT row_to_json(c)->>'email' FROM m_customers c WHERE id = 1"))
                .containsExactly("ada@example.com");
    }

    /** A proxy for "apps/reporting" whose policy allows everything and masks with these column rules (YAML list). */
    private static RunCommand.Running startMasking(Path dir, String columnRules) throws Exception {
        return CliProxy.start(dir, MaskingPolicies.write(dir, columnRules), "apps/reporting");
    }

    @Test
    void partitionsAndInheritanceChildrenAreMaskedByTheirParentsRules(@org.junit.jupiter.api.io.TempDir Path tmp)
            throws Exception {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS m_parted, m_inh_child, m_inh, m_copy_target");
            s.execute("CREATE TABLE m_parted (id int, secret text) PARTITION BY RANGE (id)");
            s.execute("CREATE TABLE m_parted_low PARTITION OF m_parted FOR VALUES FROM (0) TO (100) "
                    + "PARTITION BY RANGE (id)");
            s.execute("CREATE TABLE m_parted_1 PARTITION OF m_parted_low FOR VALUES FROM (0) TO (50)");
            s.execute("INSERT INTO m_parted VALUES (1, 'topsecret')");
            s.execute("CREATE TABLE m_inh (id int, secret text)");
            s.execute("CREATE TABLE m_inh_child (extra text) INHERITS (m_inh)");
            s.execute("INSERT INTO m_inh_child VALUES (2, 'childsecret', 'x')");
            s.execute("CREATE TABLE m_copy_target (v text)");
        }
        try (RunCommand.Running proxy = startMasking(tmp, """
                      - name: secrets
                        columns: ["public.m_parted.secret", "public.m_inh.secret"]
                        strategy: redact
                """);
             Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement()) {
            for (String sql : List.of("SELECT secret FROM m_parted", "SELECT secret FROM m_parted_1",
                    "SELECT secret FROM m_parted_low", "SELECT secret FROM m_inh_child", "SELECT lower(secret) "
                            + "FROM m_parted_1", "SELECT p.secret || '' FROM m_inh_child p")) {
                try (ResultSet rs = s.executeQuery(sql)) {
                    assertThat(rs.next()).as(sql).isTrue();
                    assertThat(rs.getString(1)).as(sql).isEqualTo("[redacted]");
                }
            }
            try (ResultSet rs = s.executeQuery("SELECT row_to_json(p), extra FROM m_inh_child p")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("{\"id\":2,\"secret\":\"[redacted]\",\"extra\":\"x\"}");
                assertThat(rs.getString(2)).isEqualTo("x");
            }
            java.io.StringWriter copied = new java.io.StringWriter();
            c.unwrap(PGConnection.class).getCopyAPI().copyOut("COPY m_parted_1 TO STDOUT", copied);
            assertThat(copied.toString()).isEqualTo("1\t[redacted]\n");
            assertThatThrownBy(() -> s.execute("INSERT INTO m_copy_target SELECT secret FROM m_parted_1"))
                    .hasMessageContaining("would write values of masked columns");
            // a partition made outside the proxy after the graph was loaded is recognised at once
            try (Connection direct = EmbeddedPg.get().direct(EmbeddedPg.DATABASE);
                 Statement d = direct.createStatement()) {
                d.execute("CREATE TABLE m_parted_2 PARTITION OF m_parted_low FOR VALUES FROM (50) TO (100)");
                d.execute("INSERT INTO m_parted VALUES (60, 'newsecret')");
            }
            try (ResultSet rs = s.executeQuery("SELECT secret FROM m_parted_2")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("[redacted]");
            }
        }
    }

    /** A rule for one partition masks the parent's column: the parent's rows include the partition's. */
    @Test
    void aRuleForAPartitionMasksTheColumnWhereverItsRowsShowUp(@org.junit.jupiter.api.io.TempDir Path tmp)
            throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS m_zone",
                "CREATE TABLE m_zone (id int, region text, email text) PARTITION BY LIST (region)",
                "CREATE TABLE m_zone_eu PARTITION OF m_zone FOR VALUES IN ('eu')",
                "CREATE TABLE m_zone_us PARTITION OF m_zone FOR VALUES IN ('us')",
                "INSERT INTO m_zone VALUES (1, 'eu', 'eve@example.eu'), (2, 'us', 'sam@example.com')");
        try (RunCommand.Running proxy = startMasking(tmp, """
                      - name: eu-residency
                        columns: ["public.m_zone_eu.email"]
                        strategy: redact
                """);
             Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement()) {
            for (String sql : List.of("SELECT email FROM m_zone ORDER BY id", "SELECT lower(email) FROM m_zone "
                    + "ORDER BY id", "SELECT z.email FROM public.m_zone z ORDER BY id")) {
                try (ResultSet rs = s.executeQuery(sql)) {
                    rs.next();
                    assertThat(rs.getString(1)).as(sql).isEqualTo("[redacted]");
                    rs.next();
                    assertThat(rs.getString(1)).as(sql + ": which partition a row came from is not known")
                            .isEqualTo("[redacted]");
                }
            }
            try (ResultSet rs = s.executeQuery("SELECT row_to_json(z) FROM m_zone z WHERE id = 1")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("{\"id\":1,\"region\":\"eu\",\"email\":\"[redacted]\"}");
            }
            java.io.StringWriter copied = new java.io.StringWriter();
            c.unwrap(PGConnection.class).getCopyAPI().copyOut("COPY (SELECT email FROM m_zone) TO STDOUT", copied);
            assertThat(copied.toString()).doesNotContain("eve@example.eu");
            // the other partition read by its own name holds no rows of the masked one
            try (ResultSet rs = s.executeQuery("SELECT email FROM m_zone_us")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("sam@example.com");
            }
        } finally {
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_zone");
        }
    }

    /**
     * When the catalog connection fails, the proxy cannot tell partitions of masked tables from other tables: columns
     * it cannot resolve, computed ones included, are masked whole rather than passed.
     */
    @Test
    void aFailingCatalogConnectionMasksWhatItCannotResolve(@org.junit.jupiter.api.io.TempDir Path tmp)
            throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS m_lost",
                "CREATE TABLE m_lost (id int, secret text) PARTITION BY RANGE (id)",
                "CREATE TABLE m_lost_1 PARTITION OF m_lost FOR VALUES FROM (0) TO (10)",
                "INSERT INTO m_lost VALUES (1, 'lostsecret')");
        try (RunCommand.Running proxy = startMasking(tmp, """
                      - name: secrets
                        columns: ["public.m_lost.secret"]
                        strategy: redact
                """);
             Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement()) {
            // the catalog connection is up (it has answered a lookup: cutting it off while it still logs in would
            // leave it working)
            try (ResultSet rs = s.executeQuery("SELECT secret FROM m_lost_1")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("[redacted]");
            }
            // now it is ended (waiting for its backend to exit: a lookup sent before that would still be answered)
            // and cannot log in again, and DDL through the proxy drops what the catalog holds
            setProxyUserPassword("changed-elsewhere");
            EmbeddedPg.execute("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                    + "WHERE application_name = 'dbwarden-catalog'");
            s.execute("COMMENT ON TABLE m_lost IS 'lost'");
            for (String sql : List.of("SELECT lower(secret) FROM m_lost_1", "SELECT secret || '' FROM m_lost_1",
                    "SELECT secret FROM m_lost_1", "SELECT id, secret FROM m_lost")) {
                try (ResultSet rs = s.executeQuery(sql)) {
                    assertThat(rs.next()).as(sql).isTrue();
                    for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
                        assertThat(String.valueOf(rs.getString(i))).as(sql).doesNotContain("lostsecret");
                    }
                }
            }
            // and it shows
            assertThat(proxy.metrics().render()).containsPattern("(?m)^dbwarden_catalog_failures_total [1-9]");
        } finally {
            setProxyUserPassword(EmbeddedPg.PASSWORD);
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_lost");
        }
    }

    /** The password of the user the proxy logs in as (its sessions and its catalog connection). */
    private static void setProxyUserPassword(String password) throws SQLException {
        EmbeddedPg.execute("SET password_encryption = 'scram-sha-256'",
                "ALTER ROLE " + EmbeddedPg.SCRAM_USER + " PASSWORD '" + password + "'");
    }

    /** A policy that masks e-mail addresses wherever detectors look, with no column rules. */
    private static Path emailDetectorOnly(Path dir) throws java.io.IOException {
        return Files.writeString(dir.resolve("policy.yaml"), """
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata: {name: detect-only, namespace: test}
                spec:
                  subjects: [{identity: "*/*"}]
                  defaultAction: allow
                  masking:
                    detectors: [{type: email, strategy: partial}]
                """);
    }

    /**
     * Detectors look at text columns, which the RowDescription's types tell: a policy with detectors only needs no
     * catalog, and a catalog connection that cannot log in does not turn detection into masking whole values.
     */
    @Test
    void detectorsAloneNeedNoCatalog(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS m_det", "CREATE TABLE m_det (id int, contact text, n int)",
                "INSERT INTO m_det VALUES (1, 'write to ada@example.com please', 7)");
        Path policy = emailDetectorOnly(tmp);
        try (RunCommand.Running proxy = CliProxy.start(tmp, policy, "apps/reporting");
             Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement()) {
            // a catalog connection opened now could not log in
            setProxyUserPassword("changed-elsewhere");
            for (String sql : List.of("SELECT id, contact, n FROM m_det", "SELECT lower(contact), n + 1 FROM m_det",
                    "SELECT x.contact FROM (SELECT contact FROM m_det) x", "SELECT 'ada@example.com'::varchar")) {
                try (ResultSet rs = s.executeQuery(sql)) {
                    assertThat(rs.next()).as(sql).isTrue();
                    int columns = rs.getMetaData().getColumnCount();
                    String text = rs.getString(columns == 3 ? 2 : 1);
                    // only the address is masked, its domain kept; the rest of the value and other columns pass
                    assertThat(text).as(sql).doesNotContain("ada@").contains("@example.com");
                    if (columns == 3) {
                        assertThat(text).startsWith("write to ").endsWith(" please");
                        assertThat(rs.getInt(1)).isEqualTo(1);
                        assertThat(rs.getInt(3)).isEqualTo(7);
                    } else if (columns == 2) {
                        assertThat(rs.getInt(2)).isEqualTo(8);
                    }
                }
            }
            // no catalog connection was tried: it could not have logged in
            assertThat(proxy.metrics().render()).containsPattern("(?m)^dbwarden_catalog_failures_total 0(\\.0)?$");
        } finally {
            setProxyUserPassword(EmbeddedPg.PASSWORD);
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_det");
        }
    }

    /**
     * Text inside arrays and rows is seen by the detectors too: arrays of text types and of json, jsonb and xml are
     * masked element by element (array_agg(email) stays an array), other arrays and rows (a table's row, ROW(...)) in
     * which they find something become NULL, since a replacement could break their syntax; in text and binary format
     * and in COPY.
     */
    @Test
    void detectorsReachTextInsideArraysAndRows(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS m_arr", "CREATE TABLE m_arr (id int, contacts text[], note text)",
                "INSERT INTO m_arr VALUES (1, ARRAY['ada@example.com', 'x', NULL], 'plain'), "
                        + "(2, ARRAY['none here'], 'b')");
        Path policy = emailDetectorOnly(tmp);
        try (RunCommand.Running proxy = CliProxy.start(tmp, policy, "apps/reporting");
             Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement()) {
            try (ResultSet rs = s.executeQuery("SELECT id, contacts, note FROM m_arr ORDER BY id")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).isEqualTo(1);
                assertMaskedContacts((String[]) rs.getArray(2).getArray());
                assertThat(rs.getString(3)).isEqualTo("plain");
                assertThat(rs.next()).isTrue();
                assertThat((String[]) rs.getArray(2).getArray()).containsExactly("none here");
            }
            try (ResultSet rs = s.executeQuery("SELECT array_agg(contacts[1] ORDER BY id) FROM m_arr")) {
                assertThat(rs.next()).isTrue();
                String[] agg = (String[]) rs.getArray(1).getArray();
                assertThat(agg).hasSize(2).doesNotContain("ada@example.com");
                assertThat(agg[0]).endsWith("@example.com");
                assertThat(agg[1]).isEqualTo("none here");
            }
            // rows keep their fields, the text in them masked (an array field element by element)
            try (ResultSet rs = s.executeQuery("SELECT m FROM m_arr m WHERE id = 1")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).matches("\\(1,\"\\{\"\"[^\"@]+@example\\.com\"\",x,NULL}\",plain\\)");
            }
            try (ResultSet rs = s.executeQuery("SELECT ROW(1, 'ada@example.com')")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).matches("\\(1,\"[^\"@]+@example\\.com\"\\)");
            }
            // arrays of rows element by element
            try (ResultSet rs = s.executeQuery("SELECT ARRAY[ROW(1, 'ada@example.com')]")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).matches("\\{\"\\(1,\\\\\"[^\"@]+@example\\.com\\\\\"\\)\"}");
            }
            // arrays of documents keep their shape, their elements masked as json and xml columns are
            for (String sql : List.of("SELECT ARRAY['{\"a\": \"ada@example.com\"}'::json, '[1]']",
                    "SELECT ARRAY['{\"a\": \"ada@example.com\"}'::jsonb, '[1]']",
                    "SELECT ARRAY['<a>ada@example.com</a>'::xml, '<b/>']")) {
                try (ResultSet rs = s.executeQuery(sql)) {
                    assertThat(rs.next()).as(sql).isTrue();
                    Object[] elements = (Object[]) rs.getArray(1).getArray();
                    assertThat(elements).as(sql).hasSize(2);
                    assertThat(String.valueOf(elements[0])).as(sql).doesNotContain("ada@").contains("@example.com");
                    assertThat(String.valueOf(elements[1])).as(sql).isIn("[1]", "<b/>");
                }
            }
            // in binary format: a jsonb element keeps its version byte before the masked text
            byte[] jsonbArray = binaryRow(proxy, "SELECT ARRAY['{\"a\": \"ada@example.com\"}'::jsonb]").getFirst();
            String bytes = new String(jsonbArray, StandardCharsets.ISO_8859_1);
            assertThat(bytes).doesNotContain("ada@").contains("\u0001{\"a\":\"").contains("@example.com\"}");
            try (ResultSet rs = s.executeQuery("SELECT m FROM m_arr m WHERE id = 2")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("(2,\"{\"\"none here\"\"}\",b)");
            }
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            java.io.StringWriter out = new java.io.StringWriter();
            copy.copyOut("COPY m_arr TO STDOUT", out);
            assertThat(out.toString()).doesNotContain("ada@").matches("1\t\\{\"[^\"]+@example\\.com\",x,NULL}\tplain\n"
                    + "2\t\\{\"none here\"}\tb\n");
            // binary COPY: the array in its binary form, element by element; the tuple's lengths follow
            java.io.ByteArrayOutputStream binary = new java.io.ByteArrayOutputStream();
            copy.copyOut("COPY m_arr TO STDOUT (FORMAT binary)", binary);
            List<List<byte[]>> rows = binaryCopy(binary.toByteArray());
            assertThat(rows).hasSize(2);
            String contacts = new String(rows.get(0).get(1), StandardCharsets.ISO_8859_1);
            assertThat(contacts).doesNotContain("ada@").contains("@example.com").contains("x");
            assertThat(new String(rows.get(0).get(2), StandardCharsets.UTF_8)).isEqualTo("plain");
        }
        // binary results (pgjdbc asks for them once a statement is prepared): arrays hold their text as it is
        try (RunCommand.Running proxy = CliProxy.start(tmp, policy, "apps/reporting");
             Connection c = CliProxy.connect(proxy, "prepareThreshold=-1&binaryTransferEnable=1009");
             PreparedStatement ps = c.prepareStatement("SELECT contacts FROM m_arr WHERE id = ?")) {
            ps.setInt(1, 1);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
                assertMaskedContacts((String[]) rs.getArray(1).getArray());
            }
            ps.setInt(1, 2);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
                assertThat((String[]) rs.getArray(1).getArray()).containsExactly("none here");
            }
        } finally {
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_arr");
        }
    }

    /**
     * Detectors inside json, jsonb and xml values mask string by string (and JSON numbers, keys, XML text and
     * attributes), so a replacement with a quote, '<' or '&' keeps the document valid for the server itself, a number
     * they mask becomes a string, and what an escape hides ({@code \u0040}, {@code &#64;}) is found after decoding;
     * in text and binary format, in arrays of documents and in COPY.
     */
    @Test
    void detectorsKeepJsonAndXmlDocumentsValid(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        String json = "{\"to\": \"ada@example.com\", \"card\": 4111111111111111, \"n\": 7, "
                + "\"bob\\u0040example.com\": \"k\", \"hidden\": \"bob\\u0040example.com\", \"plain\": \"a \\\" b\"}";
        String xml = "<m to=\"ada@example.com\">card 4111111111111111 &amp; bob&#64;example.com<![CDATA[ <x> ]]></m>";
        EmbeddedPg.execute("DROP TABLE IF EXISTS m_docs", "CREATE TABLE m_docs (id int, j json, jb jsonb, x xml, "
                + "ja jsonb[])", "INSERT INTO m_docs VALUES (1, '" + json + "', '" + json + "', '" + xml + "', "
                + "ARRAY['" + json + "'::jsonb, '[1]'])");
        Path policy = Files.writeString(tmp.resolve("policy.yaml"), """
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata: {name: detect-docs, namespace: test}
                spec:
                  subjects: [{identity: "*/*"}]
                  defaultAction: allow
                  masking:
                    detectors:
                      - {type: email, strategy: fixed, value: 'x"</a>&y\\'}
                      - {type: creditCard, strategy: partial}
                """);
        List<String> leaks = List.of("ada@", "bob@", "bob\\u0040", "bob&#64;", "4111111111111111");
        try (RunCommand.Running proxy = CliProxy.start(tmp, policy, "apps/reporting");
             Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement();
             Connection direct = EmbeddedPg.get().direct(EmbeddedPg.DATABASE)) {
            String j;
            String jb;
            String x;
            String[] ja;
            try (ResultSet rs = s.executeQuery("SELECT j, jb, x, ja FROM m_docs")) {
                assertThat(rs.next()).isTrue();
                j = rs.getString(1);
                jb = rs.getString(2);
                x = rs.getString(3);
                ja = (String[]) rs.getArray(4).getArray();
            }
            for (String doc : List.of(j, jb, ja[0])) {
                assertThat(doc).doesNotContain(leaks);
                // the server reads what the client got as a document: the replacement's quote is escaped
                try (PreparedStatement ps = direct.prepareStatement("SELECT ?::jsonb ->> 'to', (?::jsonb -> 'card')"
                        + "::text, ?::jsonb -> 'n', ?::jsonb ->> 'hidden', ?::jsonb ->> 'plain', "
                        + "?::jsonb ->> 'x\"</a>&y\\'")) {
                    for (int i = 1; i <= 6; i++) {
                        ps.setString(i, doc);
                    }
                    try (ResultSet rs = ps.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getString(1)).as(doc).isEqualTo("x\"</a>&y\\");
                        assertThat(rs.getString(2)).as(doc).startsWith("\"").endsWith("1111\"").contains("*");
                        assertThat(rs.getString(3)).as(doc).isEqualTo("7");
                        assertThat(rs.getString(4)).as(doc).isEqualTo("x\"</a>&y\\");
                        assertThat(rs.getString(5)).as(doc).isEqualTo("a \" b");
                        assertThat(rs.getString(6)).as(doc + ": a key that is data is masked too").isEqualTo("k");
                    }
                }
            }
            assertThat(ja[1]).isEqualTo("[1]");
            assertThat(x).doesNotContain(leaks);
            try (PreparedStatement ps = direct.prepareStatement("SELECT xpath('/m/@to', ?::xml)::text[], "
                    + "xpath('/m/text()', ?::xml)::text[]")) {
                ps.setString(1, x);
                ps.setString(2, x);
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    assertThat(((String[]) rs.getArray(1).getArray())[0]).startsWith("x")
                            .endsWith("&lt;/a&gt;&amp;y\\");
                    assertThat(((String[]) rs.getArray(2).getArray())[0]).startsWith("card ").contains("1111 &amp; x")
                            .doesNotContain("4111111111111111");
                }
            }
            // binary format: jsonb keeps its version byte before a document the server reads
            byte[] binary = binaryRow(proxy, "SELECT jb FROM m_docs").getFirst();
            assertThat(binary[0]).isEqualTo((byte) 1);
            String binaryJson = new String(binary, 1, binary.length - 1, StandardCharsets.UTF_8);
            assertThat(binaryJson).doesNotContain(leaks);
            try (PreparedStatement ps = direct.prepareStatement("SELECT ?::jsonb ->> 'to'")) {
                ps.setString(1, binaryJson);
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getString(1)).isEqualTo("x\"</a>&y\\");
                }
            }
            // COPY: what the client gets loads back into the same column types
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            java.io.StringWriter out = new java.io.StringWriter();
            copy.copyOut("COPY m_docs TO STDOUT", out);
            assertThat(out.toString()).doesNotContain(leaks);
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_docs_back", "CREATE TABLE m_docs_back (LIKE m_docs)");
            direct.unwrap(PGConnection.class).getCopyAPI().copyIn("COPY m_docs_back FROM STDIN",
                    new java.io.StringReader(out.toString()));
            try (Statement d = direct.createStatement(); ResultSet rs = d.executeQuery("SELECT j ->> 'to', "
                    + "jb ->> 'hidden', (xpath('/m/@to', x))[1]::text, ja[1] ->> 'to' FROM m_docs_back")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("x\"</a>&y\\");
                assertThat(rs.getString(2)).isEqualTo("x\"</a>&y\\");
                assertThat(rs.getString(3)).startsWith("x").endsWith("&lt;/a&gt;&amp;y\\");
                assertThat(rs.getString(4)).isEqualTo("x\"</a>&y\\");
            }
            // documents with nothing to mask stay as they were, spacing and all
            String spaced = "{ \"a\" :  \"b\\u0041\" }";
            try (ResultSet rs = s.executeQuery("SELECT '" + spaced + "'::json, '<a  b=''c''>d &amp; e</a>'::xml")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo(spaced);
                assertThat(rs.getString(2)).isEqualTo("<a  b='c'>d &amp; e</a>");
            }
        } finally {
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_docs, m_docs_back");
        }
    }

    /**
     * Detectors mask rows field by field, so a row stays one its type reads: a table's row and a composite type's in
     * text format by the catalog's field types (a number field is not searched, as its column is not), an anonymous
     * ROW(...) as text, binary rows by the types they carry; a replacement with a comma, quote or backslash is quoted;
     * nested rows, arrays and documents inside are masked as on their own; in COPY too.
     */
    @Test
    void detectorsMaskRowsFieldByField(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS m_rec", "DROP TYPE IF EXISTS m_addr",
                "CREATE TYPE m_addr AS (street text, mail text)",
                "CREATE TABLE m_rec (id int, card_n bigint, card text, doc jsonb, addr m_addr, tags text[])",
                "INSERT INTO m_rec VALUES (1, 4111111111111111, 'card 4111111111111111', "
                        + "'{\"to\": \"ada@example.com\"}', ROW('Main St, 1', 'bob@example.com'), "
                        + "ARRAY['ada@example.com', 'x'])");
        Path policy = Files.writeString(tmp.resolve("policy.yaml"), """
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata: {name: detect-rows, namespace: test}
                spec:
                  subjects: [{identity: "*/*"}]
                  defaultAction: allow
                  masking:
                    detectors:
                      - {type: email, strategy: fixed, value: 'a,"b\\) ('}
                      - {type: creditCard, strategy: partial}
                """);
        String fixed = "a,\"b\\) (";
        try (RunCommand.Running proxy = CliProxy.start(tmp, policy, "apps/reporting");
             Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement();
             Connection direct = EmbeddedPg.get().direct(EmbeddedPg.DATABASE)) {
            String row;
            try (ResultSet rs = s.executeQuery("SELECT r FROM m_rec r")) {
                assertThat(rs.next()).isTrue();
                row = rs.getString(1);
            }
            assertThat(row).doesNotContain("ada@", "bob@", "card 4111111111111111").contains(",4111111111111111,");
            // the server reads the row back as its type
            try (PreparedStatement ps = direct.prepareStatement("SELECT (?::m_rec).card_n, (?::m_rec).card, "
                    + "(?::m_rec).doc ->> 'to', ((?::m_rec).addr).street, ((?::m_rec).addr).mail, (?::m_rec).tags")) {
                for (int i = 1; i <= 6; i++) {
                    ps.setString(i, row);
                }
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getLong(1)).isEqualTo(4111111111111111L);
                    assertThat(rs.getString(2)).startsWith("card ").endsWith("1111").contains("*");
                    assertThat(rs.getString(3)).isEqualTo(fixed);
                    assertThat(rs.getString(4)).isEqualTo("Main St, 1");
                    assertThat(rs.getString(5)).isEqualTo(fixed);
                    assertThat((String[]) rs.getArray(6).getArray()).containsExactly(fixed, "x");
                }
            }
            // a composite column on its own, and an anonymous row (its fields' types are not told: all text)
            try (ResultSet rs = s.executeQuery("SELECT addr, ROW(card_n, card, 'ada@example.com') FROM m_rec")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("(\"Main St, 1\",\"a,\"\"b\\\\) (\")");
                assertThat(rs.getString(2)).doesNotContain("4111111111111111", "ada@")
                        .matches("\\(\"?\\*+1111\"?,\"card \\*+1111\",\"a,\"\"b\\\\\\\\\\) \\(\"\\)");
            }
            // an array of rows: element by element, the server reads it back
            String rows;
            try (ResultSet rs = s.executeQuery("SELECT array_agg(r) FROM m_rec r")) {
                assertThat(rs.next()).isTrue();
                rows = rs.getString(1);
            }
            assertThat(rows).doesNotContain("ada@", "bob@", "card 4111111111111111");
            try (PreparedStatement ps = direct.prepareStatement("SELECT ((?::m_rec[])[1]).card_n, "
                    + "(((?::m_rec[])[1]).addr).mail")) {
                ps.setString(1, rows);
                ps.setString(2, rows);
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getLong(1)).isEqualTo(4111111111111111L);
                    assertThat(rs.getString(2)).isEqualTo(fixed);
                }
            }
            byte[] binaryRows = binaryRow(proxy, "SELECT array_agg(r) FROM m_rec r").getFirst();
            assertThat(new String(binaryRows, StandardCharsets.ISO_8859_1)).doesNotContain("ada@", "bob@",
                    "card 4111111111111111").contains("Main St, 1");
            // binary format: each field carries its type; a number stays as it is
            byte[] binary = binaryRow(proxy, "SELECT r FROM m_rec r").getFirst();
            java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(binary);
            assertThat(in.getInt()).isEqualTo(6);
            List<String> texts = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                in.getInt();
                byte[] field = new byte[in.getInt()];
                in.get(field);
                if (i == 1) {
                    assertThat(java.nio.ByteBuffer.wrap(field).getLong()).isEqualTo(4111111111111111L);
                }
                texts.add(new String(field, StandardCharsets.ISO_8859_1));
            }
            assertThat(in.hasRemaining()).isFalse();
            assertThat(texts.get(2)).startsWith("card ").endsWith("1111").doesNotContain("4111111111111111");
            assertThat(texts.get(3)).isEqualTo("\u0001{\"to\":\"a,\\\"b\\\\) (\"}");
            assertThat(String.join("", texts)).doesNotContain("ada@", "bob@");
            // COPY: what the client gets loads back into the table
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            java.io.StringWriter out = new java.io.StringWriter();
            copy.copyOut("COPY m_rec TO STDOUT", out);
            assertThat(out.toString()).doesNotContain("ada@", "bob@", "card 4111111111111111");
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_rec_back", "CREATE TABLE m_rec_back (LIKE m_rec)");
            direct.unwrap(PGConnection.class).getCopyAPI().copyIn("COPY m_rec_back FROM STDIN",
                    new java.io.StringReader(out.toString()));
            try (Statement d = direct.createStatement(); ResultSet rs = d.executeQuery(
                    "SELECT card_n, (addr).street, (addr).mail FROM m_rec_back")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getLong(1)).isEqualTo(4111111111111111L);
                assertThat(rs.getString(2)).isEqualTo("Main St, 1");
                assertThat(rs.getString(3)).isEqualTo(fixed);
            }
        } finally {
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_rec, m_rec_back", "DROP TYPE IF EXISTS m_addr");
        }
    }

    /**
     * A table's whole row ({@code SELECT c FROM m_customers c}) is masked field by field, each by its column's rule
     * (a date becomes NULL), the other fields as they are or through the detectors: the row stays one the server
     * reads back, in text and binary format. Rows built otherwise stay masked whole.
     */
    @Test
    void wholeRowsOfAMaskedTableAreMaskedColumnByColumn() throws Exception {
        String row = column(masked, "", "SELECT c FROM m_customers c WHERE id = 1").getFirst();
        assertThat(row).startsWith("(1,Ada,\"a***@example.com\",").doesNotContain("123-45-6789", "1815",
                "4242 4242 4242 4242");
        try (Connection direct = EmbeddedPg.get().direct(EmbeddedPg.DATABASE);
             PreparedStatement ps = direct.prepareStatement("SELECT (?::m_customers).id, (?::m_customers).name, "
                     + "(?::m_customers).email, (?::m_customers).birthdate, (?::m_customers).profile ->> 'email', "
                     + "(?::m_customers).notes, (?::m_customers).ssn")) {
            for (int i = 1; i <= 7; i++) {
                ps.setString(i, row);
            }
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).isEqualTo(1);
                assertThat(rs.getString(2)).isEqualTo("Ada");
                assertThat(rs.getString(3)).isEqualTo("a***@example.com");
                assertThat(rs.getString(4)).isNull();
                assertThat(rs.getString(5)).as("no rule, no e-mail detector: as the column on its own")
                        .isEqualTo("ada@example.com");
                assertThat(rs.getString(6)).startsWith("card ").doesNotContain("4242 4242 4242 4242");
                assertThat(rs.getString(7)).isNotEqualTo("123-45-6789").isNotBlank();
            }
        }
        // by the table's name, with a label; the exempt identity gets the row as it is
        assertThat(column(masked, "", "SELECT m_customers AS r FROM m_customers WHERE id = 1").getFirst())
                .isEqualTo(row);
        assertThat(column(exempt, "", "SELECT c FROM m_customers c WHERE id = 1").getFirst())
                .contains("ada@example.com");
        // binary format: the same fields, by the types the row carries
        List<byte[]> binary = binaryRow(masked, "SELECT c FROM m_customers c WHERE id = 1");
        String bytes = new String(binary.getFirst(), StandardCharsets.ISO_8859_1);
        assertThat(bytes).contains("Ada", "a***@example.com", "card **** **** **** 4242").doesNotContain("123-45-6789",
                "4242 4242 4242 4242");
        // not a bare row reference: masked whole as before
        assertThat(column(masked, "", "SELECT COALESCE(c, c) FROM m_customers c WHERE id = 1")).containsExactly(
                (String) null);
    }

    /**
     * {@code array_agg(c)} of a table's own rows is an array of that table's rows: masked element by element, each
     * row field by field as {@code SELECT c} is, so the array stays one the server reads back (in text and binary
     * format). Arrays of rows built from other values, and of a view's rows, stay masked whole.
     */
    @Test
    void arraysOfWholeRowsOfAMaskedTableAreMaskedRowByRow() throws Exception {
        String array = column(masked, "", "SELECT array_agg(c ORDER BY id) FROM m_customers c").getFirst();
        assertThat(array).startsWith("{\"(1,Ada,\\\"a***@example.com\\\",").doesNotContain("123-45-6789",
                "987-65-4321", "1815", "cy@example.org", "4242 4242 4242 4242");
        try (Connection direct = EmbeddedPg.get().direct(EmbeddedPg.DATABASE);
             PreparedStatement ps = direct.prepareStatement("SELECT r.id, r.name, r.email, r.birthdate, r.ssn, "
                     + "r.notes FROM unnest(?::m_customers[]) r ORDER BY r.id")) {
            ps.setString(1, array);
            try (ResultSet rs = ps.executeQuery()) {
                List<String> rows = new ArrayList<>();
                while (rs.next()) {
                    assertThat(rs.getString(4)).as("a date under a partial rule: NULL").isNull();
                    assertThat(rs.getString(5)).isNotBlank().doesNotContain("-");
                    rows.add(rs.getInt(1) + " " + rs.getString(2) + " " + rs.getString(3));
                }
                assertThat(rows).containsExactly("1 Ada a***@example.com", "2 Bob null", "3 Cy c***@example.org");
            }
        }
        // by the table's name, with FILTER and a label, and over the extended protocol
        assertThat(column(masked, "&prepareThreshold=-1", "SELECT array_agg(m_customers) FILTER (WHERE id = 1) AS "
                + "a FROM m_customers").getFirst()).startsWith("{\"(1,Ada,\\\"a***@example.com\\\",")
                .doesNotContain("123-45-6789");
        assertThat(column(exempt, "", "SELECT array_agg(c) FROM m_customers c").getFirst())
                .contains("ada@example.com", "123-45-6789");
        // binary format: element by element, each row by the types it carries
        String binary = new String(binaryRow(masked, "SELECT array_agg(c) FROM m_customers c").getFirst(),
                StandardCharsets.ISO_8859_1);
        assertThat(binary).contains("Ada", "a***@example.com", "c***@example.org", "card **** **** **** 4242")
                .doesNotContain("123-45-6789", "987-65-4321", "4242 4242 4242 4242");
        // not the table's own rows: masked whole as before
        for (String sql : List.of("SELECT array_agg(COALESCE(c, c)) FROM m_customers c",
                "SELECT array_agg(ROW(o.id, 'x', c.email, c.ssn, NULL, NULL, NULL)::m_customers) "
                        + "FROM m_orders o JOIN m_customers c ON c.id = o.customer_id")) {
            assertThat(column(masked, "", sql)).as(sql).containsExactly((String) null);
        }
        // a view's own rows, field by field by what its definition computes each from
        assertThat(column(masked, "", "SELECT array_agg(v ORDER BY id) FROM m_contacts v")).containsExactly(
                "{\"(1,\\\"a***@example.com\\\",Ada)\",\"(2,,Bob)\",\"(3,\\\"c***@example.org\\\",Cy)\"}");
    }

    /**
     * A view's whole row holds its base tables' columns under the view's own names: with rules naming base columns
     * only (no wildcard that reaches the view by its name), {@code SELECT v FROM view v}, a view over it and
     * {@code array_agg(v)} are still masked, field by field by what the view's definition computes each from.
     */
    @Test
    void wholeRowsOfAViewOverMaskedColumnsAreMasked() throws Exception {
        Path policy = dir.resolve("narrow-policy.yaml");
        Files.writeString(policy, POLICY.replace("[\"*.*.ssn\"]", "[\"public.m_customers.ssn\"]"));
        try (RunCommand.Running narrow = start(policy, dir.resolve("key"), "apps/reporting",
                dir.resolve("audit-narrow.jsonl"))) {
            for (String sql : List.of("SELECT lower(contact) FROM m_contacts",
                    "SELECT v.contact || '' FROM m_contacts v", "SELECT upper(reach) FROM m_contacts_outer",
                    "SELECT v FROM m_contacts v", "SELECT m_contacts FROM m_contacts",
                    "SELECT array_agg(v) FROM m_contacts v", "SELECT o FROM m_contacts_outer o",
                    "SELECT row_to_json(v) FROM m_contacts v", "SELECT json_agg(v) FROM m_contacts v",
                    "SELECT to_jsonb(o) FROM m_contacts_outer o")) {
                List<String> values = column(narrow, "", sql);
                assertThat(values).as(sql).isNotEmpty();
                assertThat(String.join(",", values.stream().map(String::valueOf).toList())).as(sql)
                        .doesNotContain("ada@example.com", "cy@example.org");
            }
            assertThat(column(narrow, "", "SELECT c FROM m_customers c WHERE id = 1").getFirst())
                    .startsWith("(1,Ada,\"a***@example.com\",").doesNotContain("123-45-6789");
            // a view's whole row: its masked field masked, the others readable
            assertThat(column(narrow, "", "SELECT v FROM m_contacts v WHERE id = 1"))
                    .containsExactly("(1,\"a***@example.com\",Ada)");
            assertThat(column(narrow, "", "SELECT array_agg(v ORDER BY id) FROM m_contacts v WHERE id IN (1, 2)"))
                    .containsExactly("{\"(1,\\\"a***@example.com\\\",Ada)\",\"(2,,Bob)\"}");
            assertThat(column(narrow, "", "SELECT o FROM m_contacts_outer o WHERE reach IS NOT NULL"))
                    .containsExactly("(\"a***@example.com\")", "(\"c***@example.org\")");
            assertThat(column(narrow, "", "SELECT contact FROM m_contacts WHERE id = 1"))
                    .containsExactly("a***@example.com");
            // TABLE name reads the table: its rows through a subquery or a UNION, and copies of them
            assertThat(column(narrow, "", "SELECT lower(x) FROM (TABLE m_contacts) t(id, x, n) WHERE id = 1"))
                    .containsExactly("a***@example.com");
            assertThat(column(narrow, "", "SELECT x FROM (SELECT 0, 'x', 'y' WHERE false UNION ALL TABLE m_contacts)"
                    + " t(id, x, n) WHERE id = 3")).containsExactly("c***@example.org");
            try (Connection c = connect(narrow, ""); Statement s = c.createStatement()) {
                assertThatThrownBy(() -> s.execute("CREATE TABLE m_ctas_narrow AS TABLE m_customers"))
                        .hasMessageContaining("would write values of masked columns");
            } finally {
                EmbeddedPg.execute("DROP TABLE IF EXISTS m_ctas_narrow");
            }
            // MERGE reads its source: with no rule reaching the target table, a copy is told by the source alone
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_merged_narrow", "CREATE TABLE m_merged_narrow (v text)");
            try (Connection c = connect(narrow, ""); Statement s = c.createStatement()) {
                assertThatThrownBy(() -> s.execute("MERGE INTO m_merged_narrow m USING m_customers c ON false "
                        + "WHEN NOT MATCHED THEN INSERT (v) VALUES (c.email)"))
                        .hasMessageContaining("would write values of masked columns");
                assertThat(column(narrow, "", "SELECT count(*) FROM m_merged_narrow")).containsExactly("0");
            } finally {
                EmbeddedPg.execute("DROP TABLE IF EXISTS m_merged_narrow");
            }
            // what the view shows of unmasked columns stays readable: a column named as one, a JSON member
            assertThat(column(narrow, "", "SELECT lower(name) FROM m_contacts WHERE id = 1")).containsExactly("ada");
            assertThat(column(narrow, "", "SELECT row_to_json(v) FROM m_contacts v WHERE id = 1"))
                    .containsExactly("{\"id\":1,\"contact\":\"a***@example.com\",\"name\":\"Ada\"}");
            // a masked column renamed after an unmasked one the view also reads: told by the view's definition
            EmbeddedPg.execute("DROP VIEW IF EXISTS m_directory", "CREATE VIEW m_directory AS SELECT c.id, "
                    + "c.email AS name, c.name AS real_name FROM m_customers c");
            try {
                for (String sql : List.of("SELECT name FROM m_directory", "SELECT d.name FROM m_directory d",
                        "SELECT lower(name) FROM m_directory", "SELECT row_to_json(d) FROM m_directory d",
                        "SELECT x.n FROM (SELECT name AS n FROM m_directory) x")) {
                    assertThat(String.join(",", column(narrow, "", sql).stream().map(String::valueOf).toList()))
                            .as(sql).doesNotContain("ada@example.com", "cy@example.org");
                }
                // renamed from an unmasked column, though the view reads a masked one: readable
                assertThat(column(narrow, "", "SELECT real_name FROM m_directory WHERE id = 1"))
                        .containsExactly("Ada");
                assertThat(column(narrow, "", "SELECT d FROM m_directory d WHERE id = 1"))
                        .containsExactly("(1,\"a***@example.com\",Ada)");
                assertThat(column(narrow, "", "SELECT upper(real_name) FROM m_directory WHERE id = 1"))
                        .containsExactly("ADA");
            } finally {
                EmbeddedPg.execute("DROP VIEW IF EXISTS m_directory");
            }
            // a materialized view: PostgreSQL 17 refuses to COPY one by name (later releases read it like a
            // table, and then its rows must come out masked by the view's definition); its rows through a query
            EmbeddedPg.execute("DROP MATERIALIZED VIEW IF EXISTS m_contacts_mv", "CREATE MATERIALIZED VIEW "
                    + "m_contacts_mv AS SELECT id, email AS contact, name FROM m_customers");
            try {
                for (String sql : List.of("COPY m_contacts_mv TO STDOUT", "COPY m_contacts_mv (contact) TO STDOUT",
                        "COPY m_contacts_mv TO STDOUT WITH (FORMAT csv)", "COPY (SELECT * FROM m_contacts_mv) TO STDOUT",
                        "COPY (SELECT contact FROM m_contacts_mv) TO STDOUT WITH (FORMAT csv)")) {
                    String out;
                    try {
                        out = copyOut(narrow, sql);
                    } catch (org.postgresql.util.PSQLException e) {
                        assertThat(sql).as("only COPY of the view by name may be refused").doesNotContain("SELECT");
                        assertThat(e.getServerErrorMessage().getMessage())
                                .isEqualTo("cannot copy from materialized view \"m_contacts_mv\"");
                        continue;
                    }
                    assertThat(out).as(sql).contains("a***@example.com")
                            .doesNotContain("ada@example.com", "cy@example.org");
                }
                assertThat(copyOut(narrow, "COPY (SELECT name FROM m_contacts_mv) TO STDOUT")).contains("Ada");
                // a view made outside the proxy after its graph of views was loaded: a computed column reading it
                // is ruled by the view's definition all the same
                EmbeddedPg.execute("CREATE VIEW m_contacts_v2 AS SELECT id, email AS contact FROM m_customers");
                assertThat(column(narrow, "", "SELECT lower(contact) FROM m_contacts_v2 WHERE id = 1"))
                        .containsExactly("a***@example.com");
                assertThat(column(narrow, "", "SELECT contact FROM m_contacts_mv WHERE id = 1"))
                        .containsExactly("a***@example.com");
            } finally {
                EmbeddedPg.execute("DROP VIEW IF EXISTS m_contacts_v2", "DROP MATERIALIZED VIEW IF EXISTS m_contacts_mv");
            }
            // nor can they be copied out through the view into a table no rule covers
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_copy_narrow", "CREATE TABLE m_copy_narrow (v text)");
            try (Connection c = connect(narrow, ""); Statement s = c.createStatement()) {
                for (String sql : List.of("INSERT INTO m_copy_narrow SELECT contact FROM m_contacts",
                        "INSERT INTO m_copy_narrow SELECT lower(reach) FROM m_contacts_outer",
                        "CREATE TABLE m_stolen_narrow AS SELECT v FROM m_contacts v")) {
                    assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.execute(sql))).as(sql)
                            .hasMessageContaining("would write values of masked columns");
                }
                s.execute("INSERT INTO m_copy_narrow SELECT name FROM m_contacts");
            } finally {
                EmbeddedPg.execute("DROP TABLE IF EXISTS m_copy_narrow");
            }
        }
    }

    /**
     * A row's fields are told apart by position: a column dropped and another added outside the proxy (its catalog
     * cache still holds the old columns) must not shift a masked value into an unmasked column's place.
     */
    @Test
    void wholeRowsFollowColumnsChangedOutsideTheProxy() throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS m_shift", "CREATE TABLE m_shift (id int, note text, ssn text)",
                "INSERT INTO m_shift VALUES (1, 'n', '555-12-3456')");
        try {
            for (String sql : List.of("SELECT s FROM m_shift s", "SELECT note, ssn FROM m_shift",
                    "SELECT array_agg(s) FROM m_shift s")) {
                assertThat(String.join(",", column(masked, "", sql))).doesNotContain("555-12-3456");
            }
            EmbeddedPg.execute("ALTER TABLE m_shift DROP COLUMN note", "ALTER TABLE m_shift ADD COLUMN extra text");
            for (String params : List.of("", "&prepareThreshold=-1&binaryTransferEnable=16384")) {
                // the array first: no whole row's lookup has refreshed the catalog before it
                String array = column(masked, params, "SELECT array_agg(s) FROM m_shift s").getFirst();
                assertThat(array).as(params).startsWith("{\"(1,\\\"h:").doesNotContain("555-12-3456");
                String row = column(masked, params, "SELECT s FROM m_shift s").getFirst();
                assertThat(row).as(params).startsWith("(1,\"h:").doesNotContain("555-12-3456");
            }
            for (String sql : List.of("SELECT s FROM m_shift s", "SELECT array_agg(s) FROM m_shift s")) {
                String binary = new String(binaryRow(masked, sql).getFirst(), StandardCharsets.ISO_8859_1);
                assertThat(binary).as(sql).contains("h:").doesNotContain("555-12-3456");
            }
        } finally {
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_shift");
        }
    }

    /**
     * With detectors alone, a table's row in text format is read by the field types the catalog has. A column whose
     * type is changed outside the proxy to text, with the same number of fields, must not pass as the number or date
     * it was: the row's table is looked up afresh for each such result, so the field is searched as the text it is
     * now, even when it still looks like a number (a card number in a former bigint column).
     */
    @Test
    void detectorsAreNotMisledByRowTypesChangedOutsideTheProxy(@org.junit.jupiter.api.io.TempDir Path tmp)
            throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS m_stale_i, m_stale_d",
                "CREATE TABLE m_stale_i (id int, note text)", "INSERT INTO m_stale_i VALUES (1, 'plain')",
                "CREATE TABLE m_stale_d (d date, note text)", "INSERT INTO m_stale_d VALUES ('2024-01-02', 'plain')");
        Path policy = Files.writeString(emailDetectorOnly(tmp), Files.readString(emailDetectorOnly(tmp))
                .replace("[{type: email, strategy: partial}]",
                        "[{type: email, strategy: partial}, {type: creditCard, strategy: partial}]"));
        try (RunCommand.Running proxy = CliProxy.start(tmp, policy, "apps/reporting");
             Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement()) {
            // the catalog learns both row types; nothing to mask yet
            assertThat(firstString(s, "SELECT m FROM m_stale_i m")).isEqualTo("(1,plain)");
            assertThat(firstString(s, "SELECT m FROM m_stale_d m")).isEqualTo("(2024-01-02,plain)");
            EmbeddedPg.execute("ALTER TABLE m_stale_i ALTER COLUMN id TYPE text",
                    "UPDATE m_stale_i SET id = 'ann@example.com'",
                    "ALTER TABLE m_stale_d ALTER COLUMN d TYPE text", "UPDATE m_stale_d SET d = 'ann@example.com'");
            for (String sql : List.of("SELECT m FROM m_stale_i m", "SELECT m FROM m_stale_d m",
                    "SELECT array_agg(m) FROM m_stale_i m")) {
                assertThat(firstString(s, sql)).as(sql).contains("a***@example.com").doesNotContain("ann@");
            }
            // a value that still looks like the former type is searched as the text it is now
            EmbeddedPg.execute("ALTER TABLE m_stale_i ALTER COLUMN id TYPE bigint USING 42");
            assertThat(firstString(s, "SELECT m FROM m_stale_i m")).isEqualTo("(42,plain)");
            EmbeddedPg.execute("ALTER TABLE m_stale_i ALTER COLUMN id TYPE text",
                    "UPDATE m_stale_i SET id = '4111111111111111'");
            assertThat(firstString(s, "SELECT m FROM m_stale_i m")).as("card detector")
                    .doesNotContain("4111111111111111");
            // a composite type's values are read by its fields' types as last seen: a field that no longer reads
            // as its type makes the value searched whole
            EmbeddedPg.execute("DROP TYPE IF EXISTS m_stale_t", "CREATE TYPE m_stale_t AS (n int, note text)");
            assertThat(firstString(s, "SELECT ROW(1, 'plain')::m_stale_t")).isEqualTo("(1,plain)");
            EmbeddedPg.execute("ALTER TYPE m_stale_t ALTER ATTRIBUTE n TYPE text");
            assertThat(firstString(s, "SELECT ROW('ann@example.com', 'plain')::m_stale_t")).isNull();
            assertThat(firstString(s, "SELECT ROW('7', 'plain')::m_stale_t")).isEqualTo("(7,plain)");
        } finally {
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_stale_i, m_stale_d", "DROP TYPE IF EXISTS m_stale_t");
        }
    }

    private static String firstString(Statement s, String sql) throws java.sql.SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            assertThat(rs.next()).as(sql).isTrue();
            return rs.getString(1);
        }
    }

    private static void assertMaskedContacts(String[] contacts) {
        assertThat(contacts).hasSize(3);
        assertThat(contacts[0]).doesNotStartWith("ada").endsWith("@example.com");
        assertThat(contacts[1]).isEqualTo("x");
        assertThat(contacts[2]).isNull();
    }

    /** Rules name tables and columns: DDL that would move values out from under those names is refused. */
    @Test
    void aMaskedIdentityCannotRenameMaskedColumnsOutOfTheirRules(@org.junit.jupiter.api.io.TempDir Path tmp)
            throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS m_ddl, m_ddl_parted CASCADE",
                "CREATE TABLE m_ddl (id int, secret text, note text)", "INSERT INTO m_ddl VALUES (1, 'ddlsecret', 'n')",
                "CREATE TABLE m_ddl_child (extra text) INHERITS (m_ddl)",
                "CREATE TABLE m_ddl_parted (id int, secret text) PARTITION BY RANGE (id)",
                "CREATE TABLE m_ddl_p1 PARTITION OF m_ddl_parted FOR VALUES FROM (0) TO (10)");
        try (RunCommand.Running proxy = startMasking(tmp, """
                      - name: secrets
                        columns: ["public.m_ddl.secret", "public.m_ddl_parted.secret"]
                        strategy: redact
                """);
             Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement()) {
            for (String sql : List.of("ALTER TABLE m_ddl RENAME COLUMN secret TO plain",
                    "alter table if exists only public.m_ddl rename secret to \"Plain\"",
                    "ALTER TABLE public.m_ddl RENAME TO m_free", "ALTER TABLE m_ddl SET SCHEMA pg_temp",
                    "ALTER TABLE m_ddl_parted DETACH PARTITION m_ddl_p1",
                    "ALTER TABLE m_ddl_child NO INHERIT m_ddl")) {
                org.postgresql.util.PSQLException e = (org.postgresql.util.PSQLException)
                        org.assertj.core.api.Assertions.catchThrowable(() -> s.execute(sql));
                assertThat((Throwable) e).as(sql).isNotNull();
                assertThat(e.getSQLState()).as(sql).isEqualTo("42501");
                assertThat(e.getMessage()).as(sql).contains("the values would be read unmasked under the new name");
            }
            // other changes pass, renames that stay covered too
            s.execute("ALTER TABLE m_ddl RENAME COLUMN note TO remark");
            s.execute("ALTER TABLE m_ddl ADD COLUMN extra2 int");
            s.execute("ALTER TABLE m_ddl_p1 RENAME TO m_ddl_part1"); // still a partition: the parent's rule holds
            try (ResultSet rs = s.executeQuery("SELECT secret, remark FROM m_ddl WHERE id = 1")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("[redacted]");
                assertThat(rs.getString(2)).isEqualTo("n");
            }
        } finally {
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_ddl, m_ddl_parted CASCADE");
        }
    }

    @Test
    void aNullingRuleNullsOnlyItsMemberOfARowAsJson(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        try (RunCommand.Running proxy = startMasking(tmp, """
                      - name: gone
                        columns: ["public.m_customers.ssn"]
                        strategy: "null"
                      - name: emails
                        columns: ["public.m_customers.email"]
                        strategy: partial
                """);
             Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT row_to_json(c), ssn FROM m_customers c WHERE id = 1")) {
            rs.next();
            com.fasterxml.jackson.databind.JsonNode row = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(rs.getString(1));
            assertThat(row.get("ssn").isNull()).isTrue();
            assertThat(row.get("email").asText()).isEqualTo("a***@example.com");
            assertThat(row.get("name").asText()).isEqualTo("Ada");
            assertThat(rs.getString(2)).isNull();
        }
    }

    @Test
    void otherJsonCarryingMaskedValuesIsMaskedThroughoutAndStaysValid() throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        // keys the statement spells out stay; every value may be the masked column's, so each is masked
        com.fasterxml.jackson.databind.JsonNode built = json.readTree(column(masked, "",
                "SELECT json_build_object('contact', email, 'id', id) FROM m_customers WHERE id = 1").get(0));
        assertThat(built.get("contact").asText()).isEqualTo("a***@example.com");
        assertThat(built.get("id").asText()).isEqualTo("*");
        // keys made of data are masked too
        String keyed = column(masked, "", "SELECT json_object_agg(email, id) FROM m_customers WHERE email IS NOT NULL")
                .get(0);
        assertThat(json.readTree(keyed).fieldNames()).toIterable()
                .containsExactlyInAnyOrder("a***@example.com", "c***@example.org");
        // a row of a subquery: keys may be renamed columns, nothing is known of them
        String derived = column(masked, "", "SELECT json_agg(t) FROM (SELECT email AS contact, name FROM m_customers "
                + "WHERE id = 1) t").get(0);
        assertThat(json.readTree(derived).get(0).get("contact").asText()).isEqualTo("a***@example.com");
        assertThat(derived).doesNotContain("ada@", "Ada");
        // a redacting rule yields a JSON string, not the bare marker
        assertThat(json.readTree(column(masked, "", "SELECT to_jsonb(birthdate) FROM m_customers WHERE id = 1")
                .get(0)).asText()).isEqualTo("[redacted]");
        assertThat(json.readTree(column(masked, "", "SELECT to_json(c)->'email' FROM m_customers c WHERE id = 1")
                .get(0)).asText()).isEqualTo("a***@example.com");
        assertThat(json.readTree(column(masked, "", "SELECT json_build_object('k', to_jsonb(c)->'email') "
                + "FROM m_customers c WHERE id = 1").get(0)).get("k").asText()).isEqualTo("a***@example.com");
    }

    @Test
    void valuesOfAMaskedTablesRowTypeAreMaskedWhereverTheyComeFrom() throws Exception {
        // the server describes these as values of m_customers' row type: no table of origin, no telling name
        assertThat(column(masked, "", "SELECT g FROM m_all() g WHERE id = 1")).containsExactly((String) null);
        assertThat(column(masked, "", "SELECT m_all() LIMIT 1")).containsExactly((String) null);
        assertThat(column(masked, "", "SELECT (array_agg(g))[1] AS first FROM m_all() g WHERE id = 1"))
                .containsExactly((String) null);
        assertThat(column(exempt, "", "SELECT g FROM m_all() g WHERE id = 1").get(0)).contains("ada@example.com");
    }

    @Test
    void rowsOfMaskedTablesFromFunctionsAreMaskedByColumnName() throws Exception {
        // a function's result columns carry no table of origin; named like a masked column, they are masked
        try (Connection c = connect(masked, ""); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT * FROM m_all() WHERE id = 1")) {
            rs.next();
            assertThat(rs.getString("email")).isEqualTo("a***@example.com");
            assertThat(rs.getString("ssn")).doesNotContain("123-45-6789");
            assertThat(rs.getString("birthdate")).isNull(); // redact: NULL keeps the date column valid
            assertThat(rs.getString("name")).isEqualTo("Ada");
        }
        assertThat(column(exempt, "", "SELECT email FROM m_all() WHERE id = 1")).containsExactly("ada@example.com");
    }

    @Test
    void serverErrorsDoNotShowMaskedValues() throws Exception {
        try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
            // a cast of a masked column fails with the value in the message
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.executeQuery(
                    "SELECT email::int FROM m_customers WHERE id = 1")))
                    .hasMessageContaining("invalid input syntax for type integer").hasMessageNotContaining("ada@");
            // a unique violation names the key in its detail
            SQLException dup = (SQLException) org.assertj.core.api.Assertions.catchThrowable(() -> s.executeUpdate(
                    "INSERT INTO m_customers (id, name, email) VALUES (1, 'Eve', 'eve@example.com')"));
            assertThat(dup.getSQLState()).isEqualTo("23505");
            assertThat(((org.postgresql.util.PSQLException) dup).getServerErrorMessage().getDetail())
                    .isEqualTo("Key (id)=(?) already exists.");
            // errors about the statement itself stay as they are, so a client can fix its statement
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.executeQuery("SELECT emial FROM m_customers")))
                    .hasMessageContaining("column \"emial\" does not exist");
            assertThat(s.executeQuery("SELECT 1").next()).isTrue(); // the session goes on
        }
        // an exempt identity sees the server's own text
        try (Connection c = connect(exempt, ""); Statement s = c.createStatement()) {
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.executeQuery(
                    "SELECT email::int FROM m_customers WHERE id = 1"))).hasMessageContaining("ada@example.com");
        }
    }

    @Test
    void columnStatisticsAreRefusedWhileResultsAreMasked() throws Exception {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("ANALYZE m_customers");
        }
        String stats = "SELECT histogram_bounds::text FROM pg_catalog.pg_stats WHERE tablename = 'm_customers' "
                + "AND attname = 'email'";
        try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.executeQuery(stats)))
                    .hasMessageContaining("column statistics");
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.executeQuery(
                    "SELECT * FROM \"pg_statistic\""))).hasMessageContaining("column statistics");
            assertThat(s.executeQuery("SELECT count(*) FROM pg_stat_activity").next()).isTrue(); // not statistics of values
        }
        // what the refusal protects: the histogram holds the addresses themselves
        assertThat(column(exempt, "", stats).get(0)).contains("ada@example.com");
    }

    /**
     * psql's {@code \d+} reads column defaults through an alias of pg_attrdef; the policy's {@code *.*.ssn} rule must
     * not treat that catalog row as one that may hold an ssn column (user tables' rows still count).
     */
    @Test
    void catalogRowsAreNotReachedByWildcardSchemaRules() throws Exception {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS m_defaults");
            s.execute("CREATE TABLE m_defaults (id int, created timestamptz DEFAULT now())");
        }
        String defaults = "SELECT a.attname, (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) "
                + "FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef) "
                + "FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'public.m_defaults'::regclass AND a.attnum = 2";
        try (Connection c = connect(masked, ""); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery(defaults)) {
            rs.next();
            assertThat(rs.getString(2)).isEqualTo("now()");
        }
        assertThat(column(masked, "", "SELECT c::text FROM m_customers c WHERE id = 1").get(0))
                .doesNotContain("ada@example.com");
    }

    /** Server-side code can put stored values into messages unquoted; the detectors still find what they know. */
    @Test
    void detectorsMaskWhatServerCodeRaisesUnquoted() throws Exception {
        String raiseNotice = "SELECT m_raise_notice()"; // functions a DBA made (masked identities cannot define any)
        String raiseError = "SELECT m_raise_error()";
        try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
            s.execute(raiseNotice);
            assertThat(s.getWarnings().getMessage())
                    .isEqualTo("notes: card **** **** **** 4242 and token [redacted]");
            org.postgresql.util.PSQLException e = (org.postgresql.util.PSQLException)
                    org.assertj.core.api.Assertions.catchThrowable(() -> s.execute(raiseError));
            assertThat(e.getSQLState()).isEqualTo("P0001");
            assertThat(e.getServerErrorMessage().getMessage()).doesNotContain("4242 4242").doesNotContain("eyJ")
                    .contains("**** 4242");
            assertThat(e.getServerErrorMessage().getDetail()).doesNotContain("4242 4242");
            assertThat(e.getServerErrorMessage().getHint()).doesNotContain("4242 4242");
        }
        // what the detectors protect: the raw text
        try (Connection c = connect(exempt, ""); Statement s = c.createStatement()) {
            s.execute(raiseNotice);
            assertThat(s.getWarnings().getMessage()).contains("4242 4242 4242 4242");
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.execute(raiseError)))
                    .hasMessageContaining("4242 4242 4242 4242");
        }
        // the audit log never holds it, masked identity or not (a RAISE message is scrubbed of recognisable values)
        Path opsAudit = dir.resolve("audit-ops.jsonl");
        await().atMost(5, TimeUnit.SECONDS).until(() -> Files.readString(opsAudit).contains("\"P0001\""));
        assertThat(Files.readString(opsAudit)).doesNotContain("4242 4242").doesNotContain("eyJhbGci")
                .contains("failed for card ? and token ?");
        await().atMost(5, TimeUnit.SECONDS).until(() -> Files.readString(audit).contains("\"P0001\""));
        assertThat(Files.readString(audit)).doesNotContain("4242 4242").doesNotContain("eyJhbGci");
    }

    /**
     * A DO block, function, procedure, rule or trigger runs queries the proxy cannot see into: defined by a masked
     * identity, it could return masked values under other names ({@code RETURNS TABLE (mail text)}), raise them or
     * store them.
     */
    @Test
    void aMaskedIdentityCannotDefineServerCode() throws Exception {
        List<String> code = List.of(
                "DO $$ BEGIN RAISE NOTICE '%', (SELECT string_agg(ssn, ',') FROM m_customers); END $$",
                "do language plpgsql 'BEGIN PERFORM 1; END'",
                "DO'BEGIN RAISE NOTICE ''%'', (SELECT string_agg(ssn, '','') FROM m_customers); END'",
                "CREATE FUNCTION m_leak() RETURNS TABLE (mail text) AS 'SELECT email FROM m_customers' LANGUAGE sql",
                "CREATE OR REPLACE FUNCTION m_all() RETURNS SETOF m_customers AS $$ SELECT 1 $$ LANGUAGE sql",
                "create or replace procedure m_p() language sql as $$ INSERT INTO m_orders SELECT id, id "
                        + "FROM m_customers $$",
                "CREATE RULE m_r AS ON INSERT TO m_orders DO ALSO SELECT email FROM m_customers",
                // an existing (generic audit) function run on a masked table's rows could store them elsewhere
                "CREATE TRIGGER m_t AFTER UPDATE ON m_customers FOR EACH ROW EXECUTE FUNCTION m_audit()",
                "create or replace trigger m_t after insert on m_customers for each row execute procedure m_audit()",
                "CREATE CONSTRAINT TRIGGER m_t AFTER UPDATE ON m_customers FOR EACH ROW EXECUTE FUNCTION m_audit()",
                "CREATE EVENT TRIGGER m_e ON ddl_command_end EXECUTE FUNCTION m_audit()",
                // one a DBA made and disabled, turned on
                "ALTER TABLE m_customers ENABLE TRIGGER m_t",
                "alter table if exists m_customers add column x int, enable always trigger all",
                "ALTER TABLE m_orders ENABLE REPLICA RULE m_r");
        try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
            for (String sql : code.stream().flatMap(q -> java.util.stream.Stream.of(q,
                    io.dbwarden.proxy.testing.SqlSqueeze.squeeze(q))).toList()) {
                org.postgresql.util.PSQLException e = (org.postgresql.util.PSQLException)
                        org.assertj.core.api.Assertions.catchThrowable(() -> s.execute(sql));
                assertThat((Throwable) e).as(sql).isNotNull();
                assertThat(e.getSQLState()).as(sql).isEqualTo("42501");
                assertThat(e.getMessage()).as(sql).contains("runs queries the proxy cannot see into");
            }
            // the session goes on; functions that exist can be called (their results are masked as usual)
            try (ResultSet rs = s.executeQuery("SELECT email FROM m_all() WHERE id = 1")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("a***@example.com");
            }
        }
        // an identity without masking defines code as before
        try (Connection c = connect(exempt, ""); Statement s = c.createStatement()) {
            s.execute("CREATE FUNCTION m_exempt_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'");
            s.execute("DROP FUNCTION m_exempt_fn()");
            s.execute("DO $$ BEGIN PERFORM 1; END $$");
        }
    }

    @Test
    void queryPlansAreNotMaskedTheyHoldNoStoredValues() throws Exception {
        List<String> plan = column(masked, "", "EXPLAIN SELECT * FROM m_customers");
        assertThat(plan.get(0)).startsWith("Seq Scan on m_customers");
        List<String> verbose = column(masked, "", "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF) "
                + "SELECT email, ssn FROM m_customers WHERE name <> 'x'");
        assertThat(String.join("\n", verbose)).contains("Output: email, ssn").contains("Filter: (m_customers.name <> "
                + "'x'::text)").doesNotContain("@example.com");
        // the rows themselves stay masked
        assertThat(column(masked, "", "SELECT email FROM m_customers WHERE id = 1").get(0)).contains("***");
    }

    @Test
    void maskedValuesCannotLeaveThroughNotificationsLargeObjectsOrSettings() throws Exception {
        try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
            s.execute("LISTEN m_leak");
            for (String sql : List.of(
                    "SELECT pg_notify('m_leak', email) FROM m_customers",
                    "SELECT pg_catalog.pg_notify('m_leak', c::text) FROM m_customers c",
                    "SELECT pg_notify(ch, v) FROM (SELECT 'm_leak' AS ch, ssn AS v FROM m_customers) x",
                    "SELECT lo_from_bytea(0, convert_to(email, 'UTF8')) FROM m_customers WHERE id = 1",
                    "SELECT set_config('dbw.leak', email, false) FROM m_customers WHERE id = 1")) {
                assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.execute(sql))).as(sql)
                        .hasMessageContaining("leave the result path");
            }
            // literal payloads and tables without masked columns are fine
            s.execute("SELECT pg_notify('m_leak', 'done')");
            s.execute("NOTIFY m_leak, 'plain'");
            s.execute("SELECT pg_notify('m_leak', relname::text) FROM pg_class WHERE relname = 'm_customers'");
            PGNotification[] got = c.unwrap(PGConnection.class).getNotifications(2000);
            assertThat(got).extracting(PGNotification::getParameter).containsExactly("done", "plain", "m_customers");
            s.execute("SELECT set_config('dbw.tenant', 'acme', false)"); // a literal value is fine
            try (ResultSet rs = s.executeQuery("SELECT current_setting('dbw.leak', true), "
                    + "current_setting('dbw.tenant')")) {
                rs.next();
                assertThat(rs.getString(1)).as("nothing was stored in the refused setting").isNull();
                assertThat(rs.getString(2)).isEqualTo("acme");
            }
        }
        // what the refusal protects: the payload is the stored value itself
        try (Connection c = connect(exempt, ""); Statement s = c.createStatement()) {
            s.execute("LISTEN m_leak");
            s.execute("SELECT pg_notify('m_leak', email) FROM m_customers WHERE id = 1");
            assertThat(c.unwrap(PGConnection.class).getNotifications(2000))
                    .extracting(PGNotification::getParameter).containsExactly("ada@example.com");
        }
    }

    @Test
    void maskedValuesCannotBeCopiedWhereMaskingNoLongerApplies() throws Exception {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS m_copy, m_tickets");
            s.execute("CREATE TABLE m_copy (v text)");
            s.execute("CREATE TABLE m_tickets (id int, customer_id int, note text)");
        }
        try (Connection c = connect(masked, ""); Statement s = c.createStatement()) {
            for (String sql : List.of(
                    "INSERT INTO m_copy SELECT email FROM m_customers",
                    "INSERT INTO m_copy (v) SELECT lower(c.email) FROM m_customers c",
                    "INSERT INTO m_copy VALUES ((SELECT email FROM m_customers WHERE id = 1))",
                    "CREATE TABLE m_stolen AS SELECT * FROM m_customers",
                    "SELECT email INTO m_stolen2 FROM m_customers",
                    "WITH x AS (SELECT ssn FROM m_customers) INSERT INTO m_copy SELECT * FROM x",
                    "UPDATE m_tickets t SET note = c.email FROM m_customers c WHERE c.id = t.customer_id",
                    "UPDATE m_customers SET name = email WHERE id = 3",
                    "UPDATE m_tickets t SET note = x.e FROM (SELECT id, email AS e FROM m_customers) x "
                            + "WHERE x.id = t.customer_id",
                    "UPDATE m_tickets t SET note = c::text FROM m_customers c WHERE c.id = t.customer_id",
                    "UPDATE m_customers SET email = email || ssn WHERE id = 3",
                    "INSERT INTO m_tickets (id, note) SELECT 1, 'x' ON CONFLICT (id) DO UPDATE SET "
                            + "note = (SELECT email FROM m_customers LIMIT 1)",
                    "EXPLAIN ANALYZE INSERT INTO m_copy SELECT email FROM m_customers",
                    "EXPLAIN (ANALYZE, COSTS OFF) INSERT INTO m_copy SELECT email FROM m_customers",
                    "EXPLAIN ANALYZE VERBOSE CREATE TABLE m_stolen4 AS SELECT ssn FROM m_customers",
                    // no space around the words that make it a copy
                    "CREATE TABLE m_stolen5 AS(SELECT email FROM m_customers)",
                    "SELECT email INTO\"m_stolen6\"FROM m_customers",
                    "CREATE MATERIALIZED VIEW\"m_stolen7\"AS SELECT ssn FROM m_customers")) {
                for (String variant : List.of(sql, io.dbwarden.proxy.testing.SqlSqueeze.squeeze(sql))) {
                    assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.execute(variant))).as(variant)
                            .hasMessageContaining("would write values of masked columns");
                }
            }
            // a prepared statement is judged by what it runs; one the proxy cannot see into does not run
            s.execute("PREPARE cp AS INSERT INTO m_copy SELECT email FROM m_customers");
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.execute("EXECUTE cp")))
                    .hasMessageContaining("would write values of masked columns");
            s.execute("PREPARE rd AS SELECT email FROM m_customers");
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.execute("CREATE TABLE m_stolen3 AS "
                    + "EXECUTE rd"))).hasMessageContaining("cannot tell whether it copies masked values");
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.execute("EXECUTE never_prepared")))
                    .hasMessageContaining("cannot tell whether it copies masked values");
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.execute("EXECUTE\"never_prepared\"")))
                    .hasMessageContaining("cannot tell whether it copies masked values");
            // conditions on masked columns, literals and updates of a masked column from itself are not copies
            s.execute("INSERT INTO m_tickets SELECT 1, id, 'call back' FROM m_customers WHERE email = 'ada@example.com'");
            s.execute("INSERT INTO m_copy VALUES ('plain text')");
            s.execute("UPDATE m_tickets SET note = 'done' WHERE customer_id IN (SELECT id FROM m_customers "
                    + "WHERE email LIKE 'a%')");
            s.execute("UPDATE m_customers SET email = lower(email) WHERE id = 3");
            s.execute("EXPLAIN INSERT INTO m_copy SELECT email FROM m_customers"); // planned, not run
            s.execute("CREATE OR REPLACE VIEW m_contacts_again AS SELECT email FROM m_customers");
        }
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT count(*) FROM m_copy WHERE v LIKE '%@%'")) {
            rs.next();
            assertThat(rs.getInt(1)).isZero();
        }
        // what was written through the proxy reads back masked
        assertThat(column(masked, "", "SELECT email FROM m_contacts_again ORDER BY 1 LIMIT 1").get(0)).contains("***");
        // an exempt identity may copy
        try (Connection c = connect(exempt, ""); Statement s = c.createStatement()) {
            s.execute("INSERT INTO m_copy SELECT email FROM m_customers WHERE id = 1");
        }
    }

    /**
     * Values of string types made by extensions ({@code citext}, the usual type of e-mail columns) and of domains
     * over string types are text in both result formats and in COPY: rules and detectors mask them in place, as they
     * do text, instead of nulling them whole.
     */
    @Test
    void stringTypesOfExtensionsAndDomainsAreMaskedAsText(@org.junit.jupiter.api.io.TempDir Path tmp)
            throws Exception {
        EmbeddedPg.execute("CREATE EXTENSION IF NOT EXISTS citext", "DROP TABLE IF EXISTS m_ci",
                "DROP DOMAIN IF EXISTS m_ci_address", "CREATE DOMAIN m_ci_address AS citext",
                "CREATE TABLE m_ci (id int, email citext, contact m_ci_address, note citext, tags citext[], "
                        + "plain m_ci_address)",
                "INSERT INTO m_ci VALUES (1, 'ada@example.com', 'ada@example.org', 'write to ada@example.com please',"
                        + " ARRAY['ada@example.com', 'x'], 'nothing here')");
        Path policy = Files.writeString(tmp.resolve("policy.yaml"), """
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata: {name: citext, namespace: test}
                spec:
                  subjects: [{identity: "*/*"}]
                  defaultAction: allow
                  masking:
                    columns:
                      - name: emails
                        columns: ["public.m_ci.email", "public.m_ci.contact"]
                        strategy: partial
                    detectors: [{type: email, strategy: partial}]
                """);
        String sql = "SELECT email, contact, note, tags, plain, lower(email) FROM m_ci WHERE id = ";
        try (RunCommand.Running proxy = CliProxy.start(tmp, policy, "apps/reporting")) {
            // text format: simple and extended protocol
            for (String params : List.of("preferQueryMode=simple", "prepareThreshold=-1")) {
                try (Connection c = CliProxy.connect(proxy, params);
                     PreparedStatement ps = c.prepareStatement(sql + "?")) {
                    ps.setInt(1, 1);
                    try (ResultSet rs = ps.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getString(1)).as(params).isEqualTo("a***@example.com");
                        assertThat(rs.getString(2)).as(params).isEqualTo("a***@example.org");
                        assertThat(rs.getString(3)).as(params).startsWith("write to ").endsWith("@example.com please")
                                .doesNotContain("ada@");
                        // pgjdbc hands out citext[] elements as PGobjects holding the text
                        List<String> tags = java.util.Arrays.stream((Object[]) rs.getArray(4).getArray())
                                .map(String::valueOf).toList();
                        assertThat(tags).as(params).hasSize(2);
                        assertThat(tags.get(0)).as(params).endsWith("@example.com").doesNotStartWith("ada");
                        assertThat(tags.get(1)).as(params).isEqualTo("x");
                        assertThat(rs.getString(5)).as(params).isEqualTo("nothing here");
                        assertThat(rs.getString(6)).as(params).isEqualTo("a***@example.com");
                    }
                }
            }
            // binary format (pgjdbc reads no binary citext: the raw protocol): the same text, the array element-wise
            List<String> row = binaryRow(proxy, sql + "1").stream()
                    .map(v -> new String(v, StandardCharsets.ISO_8859_1)).toList();
            assertThat(row.get(0)).isEqualTo("a***@example.com");
            assertThat(row.get(1)).isEqualTo("a***@example.org");
            assertThat(row.get(2)).startsWith("write to ").endsWith("@example.com please").doesNotContain("ada@");
            assertThat(row.get(3)).as("a binary citext[] keeps its shape: header, lengths, masked text")
                    .contains("@example.com", "x").doesNotContain("ada@");
            assertThat(row.get(4)).isEqualTo("nothing here");
            assertThat(row.get(5)).isEqualTo("a***@example.com");
            try (Connection c = CliProxy.connect(proxy, "")) {
                java.io.StringWriter out = new java.io.StringWriter();
                c.unwrap(PGConnection.class).getCopyAPI().copyOut("COPY m_ci (id, email, contact, note, plain) "
                        + "TO STDOUT", out);
                assertThat(out.toString()).matches("1\ta\\*\\*\\*@example\\.com\ta\\*\\*\\*@example\\.org"
                        + "\twrite to [^\t]+@example\\.com please\tnothing here\n").doesNotContain("ada@");
                // binary COPY: the same text in place, the citext[] element by element
                java.io.ByteArrayOutputStream binary = new java.io.ByteArrayOutputStream();
                c.unwrap(PGConnection.class).getCopyAPI().copyOut("COPY m_ci (email, contact, note, tags, plain) "
                        + "TO STDOUT (FORMAT binary)", binary);
                List<String> copied = binaryCopy(binary.toByteArray()).getFirst().stream()
                        .map(v -> new String(v, StandardCharsets.ISO_8859_1)).toList();
                assertThat(copied.get(0)).isEqualTo("a***@example.com");
                assertThat(copied.get(1)).isEqualTo("a***@example.org");
                assertThat(copied.get(2)).startsWith("write to ").endsWith("@example.com please").doesNotContain("ada@");
                assertThat(copied.get(3)).contains("@example.com", "x").doesNotContain("ada@");
                assertThat(copied.get(4)).isEqualTo("nothing here");
            }
        }
        // detectors alone: the column types are looked up, not the tables
        try (RunCommand.Running proxy = CliProxy.start(tmp, emailDetectorOnly(tmp), "apps/reporting")) {
            for (String params : List.of("preferQueryMode=simple", "prepareThreshold=-1")) {
                try (Connection c = CliProxy.connect(proxy, params); Statement s = c.createStatement();
                     ResultSet rs = s.executeQuery("SELECT note, email, plain FROM m_ci")) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getString(1)).as(params).startsWith("write to ").endsWith("@example.com please")
                            .doesNotContain("ada@");
                    assertThat(rs.getString(2)).as(params).endsWith("@example.com").doesNotStartWith("ada");
                    assertThat(rs.getString(3)).as(params).isEqualTo("nothing here");
                }
            }
        } finally {
            EmbeddedPg.execute("DROP TABLE IF EXISTS m_ci", "DROP DOMAIN IF EXISTS m_ci_address");
        }
    }
}
