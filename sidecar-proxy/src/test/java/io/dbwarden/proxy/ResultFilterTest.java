package io.dbwarden.proxy;

import io.dbwarden.proxy.filter.ResultFilter;
import io.dbwarden.proxy.filter.ResultHandler;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The result-filter seam masking will use: a filter sees each statement's RowDescription and DataRows (simple and
 * extended protocol, described portals) and can replace rows; statements it declines pass as raw buffers.
 */
@ExtendWith(LeakDetection.class)
class ResultFilterTest {

    /** Upper-cases every non-null text value of statements that mention "shout"; records what it saw. */
    static final class ShoutFilter implements ResultFilter {
        final List<String> descriptions = new CopyOnWriteArrayList<>();
        final List<String> completions = new CopyOnWriteArrayList<>();

        @Override
        public ResultHandler forStatement(io.dbwarden.proxy.filter.StatementContext context) {
            if (!context.statement().normalized().contains("shout")) {
                return null;
            }
            return new ResultHandler() {
                @Override
                public java.util.concurrent.CompletionStage<Void> onRowDescription(ByteBuf rowDescription) {
                    descriptions.add(context.statement().normalized() + " columns="
                            + rowDescription.getShort(rowDescription.readerIndex() + 5));
                    return null;
                }

                @Override
                public ByteBuf onDataRow(ByteBuf row) {
                    ByteBuf out = upperCase(row, ByteBufAllocator.DEFAULT);
                    row.release();
                    return out;
                }

                @Override
                public void onComplete(String commandTag) {
                    completions.add(commandTag);
                }
            };
        }

        private static ByteBuf upperCase(ByteBuf row, ByteBufAllocator alloc) {
            int i = row.readerIndex() + 5;
            int columns = row.getShort(i);
            i += 2;
            ByteBuf out = alloc.buffer(row.readableBytes());
            out.writeByte('D').writeInt(0).writeShort(columns);
            for (int c = 0; c < columns; c++) {
                int len = row.getInt(i);
                i += 4;
                if (len < 0) {
                    out.writeInt(-1);
                    continue;
                }
                byte[] value = row.toString(i, len, StandardCharsets.UTF_8).toUpperCase(Locale.ROOT)
                        .getBytes(StandardCharsets.UTF_8);
                out.writeInt(value.length).writeBytes(value);
                i += len;
            }
            out.setInt(1, out.writerIndex() - 1);
            return out;
        }
    }

    @Test
    void filterRewritesRowsInBothProtocolsAndSkipsStatementsItDeclines() throws Exception {
        ShoutFilter filter = new ShoutFilter();
        try (Connection setup = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = setup.createStatement()) {
            s.execute("DROP TABLE IF EXISTS shout");
            s.execute("CREATE TABLE shout (id int, word text)");
            s.execute("INSERT INTO shout VALUES (1, 'hello'), (2, NULL), (3, 'grüße')");
        }
        try (RunningProxy proxy = RunningProxy.start(c -> c, List.of(), List.of(filter))) {
            try (Connection c = proxy.connect("preferQueryMode=simple"); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT id, word FROM shout ORDER BY id")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(2)).isEqualTo("HELLO");
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(2)).isNull();
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(2)).isEqualTo("GRÜSSE");
            }
            try (Connection c = proxy.connect("prepareThreshold=1");
                 PreparedStatement ps = c.prepareStatement("SELECT word FROM shout WHERE id = ?")) {
                for (int i = 0; i < 3; i++) { // unnamed, then named server-side statement
                    ps.setInt(1, 1);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        assertThat(rs.getString(1)).isEqualTo("HELLO");
                    }
                }
                try (ResultSet rs = c.createStatement().executeQuery("SELECT 'quiet' AS word")) {
                    rs.next();
                    assertThat(rs.getString(1)).isEqualTo("quiet"); // declined: passed through untouched
                }
            }
        }
        assertThat(filter.descriptions).contains("select id, word from shout order by id columns=2",
                "select word from shout where id = $1 columns=1");
        assertThat(filter.completions).contains("SELECT 3", "SELECT 1");
    }
}
