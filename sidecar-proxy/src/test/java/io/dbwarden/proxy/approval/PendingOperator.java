package io.dbwarden.proxy.approval;

import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/** The operator's approvals endpoint, faked: every request is answered "pending" for ChangeApproval ca-1. */
final class PendingOperator {
    private PendingOperator() {
    }

    /** Started on a free loopback port; {@code requests} sees each request body. */
    static HttpServer start(String namespace, Consumer<byte[]> requests) throws IOException {
        HttpServer operator = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        operator.createContext("/sidecar/v1/approvals", ex -> {
            requests.accept(ex.getRequestBody().readAllBytes());
            byte[] body = ("{\"phase\":\"pending\",\"namespace\":\"" + namespace + "\",\"name\":\"ca-1\",\"run\":false}")
                    .getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        operator.start();
        return operator;
    }

    static URI uri(HttpServer operator) {
        return URI.create("http://127.0.0.1:" + operator.getAddress().getPort());
    }
}
