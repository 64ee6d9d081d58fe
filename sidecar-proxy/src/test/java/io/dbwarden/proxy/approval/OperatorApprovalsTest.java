package io.dbwarden.proxy.approval;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlText;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class OperatorApprovalsTest {
    @Test
    void reasonComesFromASqlcommenterComment() {
        assertThat(OperatorApprovals.reason("CREATE TABLE t (id int) /* reason='nightly%20report',ticket='OPS-7' */"))
                .isEqualTo("nightly report");
        assertThat(OperatorApprovals.reason("/*dbwarden_reason='hot%20fix'*/ ALTER TABLE t ADD c int"))
                .isEqualTo("hot fix");
        assertThat(OperatorApprovals.reason("CREATE TABLE t (reason text)")).isNull();
        assertThat(OperatorApprovals.reason("CREATE TABLE t (id int) -- reason='not a sqlcommenter comment'")).isNull();
    }

    @Test
    void theReasonComesFromTheCommentsAroundTheStatement() {
        var statements = SqlText.split("CREATE TABLE t (id int) /* reason='a' */", true);
        StatementInfo info = StatementInfo.of(statements.getFirst());
        // the comment travels in source (for the reason); the approval covers the statement text itself
        assertThat(info.text()).isEqualTo("CREATE TABLE t (id int)");
        assertThat(info.source()).isEqualTo("CREATE TABLE t (id int) /* reason='a' */");
        var two = SqlText.split("/* reason='first' */ CREATE TABLE a (id int); ALTER TABLE a ADD b int -- x", true);
        assertThat(two.get(0).source()).isEqualTo("/* reason='first' */ CREATE TABLE a (id int)");
        assertThat(two.get(1).source()).isEqualTo("ALTER TABLE a ADD b int -- x");
        assertThat(OperatorApprovals.reason(two.get(0).source())).isEqualTo("first");
    }
}
