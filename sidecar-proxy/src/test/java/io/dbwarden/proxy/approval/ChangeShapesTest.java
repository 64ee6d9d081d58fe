package io.dbwarden.proxy.approval;

import io.dbwarden.api.v1alpha1.ChangeShape;
import io.dbwarden.proxy.sql.SqlLexer;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class ChangeShapesTest {
    static ChangeShape shape(String sql) {
        return ChangeShapes.of(SqlLexer.tokenize(sql, true));
    }

    @Test
    void recognisesOnlyTheLowRiskForms() {
        assertThat(shape("CREATE INDEX CONCURRENTLY i ON t (a)")).isEqualTo(ChangeShape.CREATE_INDEX_CONCURRENTLY);
        assertThat(shape("create unique index concurrently if not exists i on t (a)"))
                .isEqualTo(ChangeShape.CREATE_INDEX_CONCURRENTLY);
        assertThat(shape("CREATE INDEX i ON t (a)")).isNull(); // locks writes
        assertThat(shape("ALTER TABLE t ADD COLUMN note text")).isEqualTo(ChangeShape.ADD_COLUMN_WITHOUT_DEFAULT);
        assertThat(shape("ALTER TABLE ONLY s.t ADD note varchar(20) NULL"))
                .isEqualTo(ChangeShape.ADD_COLUMN_WITHOUT_DEFAULT);
        assertThat(shape("ALTER TABLE t ADD COLUMN note text DEFAULT 'x'")).isNull();
        assertThat(shape("ALTER TABLE t ADD COLUMN n int NOT NULL")).isNull();
        assertThat(shape("ALTER TABLE t ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY")).isNull();
        assertThat(shape("ALTER TABLE t ADD COLUMN a int, DROP COLUMN b")).isNull();
        assertThat(shape("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)")).isNull();
        assertThat(shape("ALTER TABLE t ADD COLUMN r int REFERENCES u (id)")).isNull();
        assertThat(shape("ALTER TABLE t ALTER COLUMN a TYPE bigint")).isNull();
        assertThat(shape("DROP TABLE t")).isNull();
    }
}
