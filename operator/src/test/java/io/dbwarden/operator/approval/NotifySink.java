package io.dbwarden.operator.approval;

import com.sun.net.httpserver.HttpServer;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/** A chat incoming-webhook stand-in: records the JSON bodies the operator posts. */
public class NotifySink implements QuarkusTestResourceLifecycleManager {
    public static final List<String> RECEIVED = new CopyOnWriteArrayList<>();
    private HttpServer server;

    @Override
    public Map<String, String> start() {
        try {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        server.createContext("/hook", ex -> {
            RECEIVED.add(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            ex.sendResponseHeaders(200, -1);
            ex.close();
        });
        server.start();
        return Map.of("dbwarden.approvals.notify-url",
                "http://127.0.0.1:" + server.getAddress().getPort() + "/hook");
    }

    @Override
    public void stop() {
        server.stop(0);
    }
}
