package io.dbwarden.proxy.postgres;

import io.netty.buffer.ByteBuf;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A decoded RowDescription ('T'): one field per result column with its source table OID and attribute number
 * (0 for computed columns), type OID and format (0 text, 1 binary; 0 also means "not known yet" in a
 * Describe of a statement).
 */
public record RowDescription(List<Field> fields) {
    public record Field(String name, int tableOid, int attnum, int typeOid, int typeLength, int typeModifier,
                        int format) {
    }

    public static RowDescription decode(ByteBuf frame) {
        ByteBuf p = frame.slice(frame.readerIndex() + 5, frame.readableBytes() - 5);
        int n = p.readUnsignedShort();
        List<Field> fields = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            String name = PgMessages.readCString(p, StandardCharsets.UTF_8);
            int tableOid = p.readInt();
            int attnum = p.readShort();
            int typeOid = p.readInt();
            int typeLength = p.readShort();
            int typeModifier = p.readInt();
            int format = p.readShort();
            fields.add(new Field(name, tableOid, attnum, typeOid, typeLength, typeModifier, format));
        }
        return new RowDescription(List.copyOf(fields));
    }
}
