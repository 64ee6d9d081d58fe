package io.dbwarden.proxy.config;

/** A host and port parsed from {@code host:port} or {@code [v6]:port}. */
public record HostPort(String host, int port) {
    public static HostPort parse(String value, String what) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException(what + ": expected host:port, got nothing");
        }
        String v = value.trim();
        int colon = v.lastIndexOf(':');
        if (colon <= 0 || colon == v.length() - 1) {
            throw new IllegalArgumentException(what + ": expected host:port, got '" + value + "'");
        }
        String host = v.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(v.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(what + ": port is not a number in '" + value + "'");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException(what + ": port out of range in '" + value + "'");
        }
        return new HostPort(host, port);
    }

    @Override
    public String toString() {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }
}
