package io.dbwarden.proxy.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.assertj.core.api.Assertions.assertThat;

/** The offline check a GitOps policy repository runs in CI: decision, matching rule, exit code. */
class CheckCommandTest {
    private static final String POLICY = "../examples/policies/app-guardrails.yaml";

    private record Result(int code, String out) {
    }

    private static Result check(String identity, String... sql) {
        CommandLine cl = DbwardenProxyCli.commandLine();
        StringWriter out = new StringWriter();
        cl.setOut(new PrintWriter(out));
        String[] args = new String[5 + sql.length * 2];
        args[0] = "check";
        args[1] = "--policy";
        args[2] = POLICY;
        args[3] = "--identity";
        args[4] = identity;
        for (int i = 0; i < sql.length; i++) {
            args[5 + 2 * i] = "--sql";
            args[6 + 2 * i] = sql[i];
        }
        return new Result(cl.execute(args), out.toString());
    }

    @Test
    void allowedStatementExitsZeroAndNamesTheRule() {
        Result r = check("shop/checkout", "SELECT * FROM orders WHERE id = 7");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("ALLOW policy=app-guardrails rule=crud-on-shop-tables")
                .contains("select * from orders where id = ?")
                .contains("note: tables are judged by their names here; the proxy also applies rules about a table "
                        + "to its partitions");
    }

    @Test
    void deniedStatementExitsTwoWithTheMessage() {
        Result r = check("shop/checkout", "SELECT 1", "DELETE FROM orders");
        assertThat(r.code()).isEqualTo(CheckCommand.EXIT_DENIED);
        assertThat(r.out()).contains("DENY policy=app-guardrails rule=no-mass-delete")
                .contains("UPDATE and DELETE need a WHERE clause");
    }

    @Test
    void aStatementWhoseTablesCannotAllBeListedIsExplained() {
        Result r = check("shop/checkout", "FETCH 10 FROM some_cursor");
        assertThat(r.code()).isEqualTo(CheckCommand.EXIT_DENIED);
        assertThat(r.out()).contains("(incomplete)").contains("tables it might use")
                .contains("detail: The proxy could not list every table this statement uses");
    }

    @Test
    void approvalExitsThree() {
        Result r = check("shop/checkout", "CREATE INDEX CONCURRENTLY orders_by_day ON orders (created_at)");
        assertThat(r.code()).isEqualTo(CheckCommand.EXIT_APPROVAL);
        assertThat(r.out()).contains("REQUIRE_APPROVAL policy=app-guardrails rule=schema-changes-need-approval");
    }

    @Test
    void identityWithoutPolicyIsDenied() {
        Result r = check("other/intruder", "SELECT 1");
        assertThat(r.code()).isEqualTo(CheckCommand.EXIT_DENIED);
        assertThat(r.out()).contains("no policy in").contains("no DatabaseAccessPolicy applies to identity");
    }
}
