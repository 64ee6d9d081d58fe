package io.dbwarden.proxy.audit;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class HashChainTest {
    static List<String> chain(HashChain c, int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(c.seal("{\"event\":\"statement\",\"statement\":\"select ?\",\"rows\":" + i + "}"));
        }
        return out;
    }

    @Test
    void anIntactChainVerifies() {
        List<String> lines = chain(HashChain.start(), 5);
        assertThat(lines.getFirst()).endsWith("\"seq\":1,\"prev\":\"" + HashChain.GENESIS + "\",\"hash\":\""
                + lines.getFirst().substring(lines.getFirst().length() - 66, lines.getFirst().length() - 2) + "\"}");
        HashChain.Verification v = HashChain.verify(lines);
        assertThat(v.intact()).isTrue();
        assertThat(v.events()).isEqualTo(5);
        assertThat(v.chainStarts()).containsExactly(1L);
    }

    @Test
    void everyKindOfTamperingIsFound() {
        List<String> lines = chain(HashChain.start(), 6);

        List<String> modified = new ArrayList<>(lines);
        modified.set(2, modified.get(2).replace("\"rows\":2", "\"rows\":0"));
        assertThat(HashChain.verify(modified).problems()).singleElement().asString().contains("line 3")
                .contains("modified");

        List<String> deleted = new ArrayList<>(lines);
        deleted.remove(3);
        assertThat(HashChain.verify(deleted).problems()).singleElement().asString().contains("seq 5 follows seq 3");

        List<String> swapped = new ArrayList<>(lines);
        swapped.set(1, lines.get(2));
        swapped.set(2, lines.get(1));
        assertThat(HashChain.verify(swapped).intact()).isFalse();

        // a forged event with a correct own hash but inserted into the chain does not link
        HashChain forger = new HashChain(2, "f".repeat(64));
        List<String> inserted = new ArrayList<>(lines.subList(0, 2));
        inserted.add(forger.seal("{\"event\":\"statement\",\"statement\":\"harmless\"}"));
        inserted.addAll(lines.subList(2, 6));
        assertThat(HashChain.verify(inserted).problems()).isNotEmpty();

        List<String> garbage = new ArrayList<>(lines);
        garbage.add(3, "{\"event\":\"statement\"}");
        assertThat(HashChain.verify(garbage).problems()).anySatisfy(p -> assertThat(p).contains("not a chained"));
    }

    @Test
    void aChainContinuesFromItsLastLine() {
        HashChain first = HashChain.start();
        List<String> lines = new ArrayList<>(chain(first, 3));
        HashChain resumed = HashChain.after(lines.getLast());
        assertThat(resumed.lastSeq()).isEqualTo(3);
        lines.addAll(chain(resumed, 2));
        HashChain.Verification v = HashChain.verify(lines);
        assertThat(v.intact()).isTrue();
        assertThat(v.chainStarts()).containsExactly(1L);
        // a restart without an earlier log starts a visible new chain
        lines.addAll(chain(HashChain.after(null), 2));
        assertThat(HashChain.verify(lines).chainStarts()).containsExactly(1L, 6L);
        assertThat(HashChain.after("{\"not\":\"chained\"}").lastSeq()).isZero();
    }
}
