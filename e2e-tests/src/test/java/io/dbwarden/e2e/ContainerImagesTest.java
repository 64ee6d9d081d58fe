package io.dbwarden.e2e;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Dockerfiles build from what this build produces: every COPY source exists in its build context (the module
 * for JVM images, after mvn package; the repository root for the multi-stage native images), the images run as a
 * non-root numeric user (the injected sidecar and the chart require it), and the entry point is what was copied.
 * The k3s test builds and runs the JVM images where Docker exists.
 */
class ContainerImagesTest {
    record Image(Path dockerfile, Path context) {
    }

    static final List<Image> IMAGES = List.of(
            new Image(Repo.path("sidecar-proxy/src/main/docker/Dockerfile.jvm"), Repo.path("sidecar-proxy")),
            new Image(Repo.path("operator/src/main/docker/Dockerfile.jvm"), Repo.path("operator")),
            new Image(Repo.path("sidecar-proxy/src/main/docker/Dockerfile.native"), Repo.ROOT),
            new Image(Repo.path("operator/src/main/docker/Dockerfile.native"), Repo.ROOT));

    static final Pattern COPY = Pattern.compile("^COPY\\s+((?:--\\S+\\s+)*)(\\S+)\\s+(\\S+)\\s*$");

    @Test
    void copySourcesExistInTheBuildContext() throws IOException {
        for (Image image : IMAGES) {
            List<String> sources = new ArrayList<>();
            for (String line : Files.readAllLines(image.dockerfile())) {
                Matcher m = COPY.matcher(line.trim());
                if (m.matches() && !m.group(1).contains("--from")) {
                    sources.add(m.group(2));
                }
            }
            assertThat(sources).as(image.dockerfile().toString()).isNotEmpty();
            for (String source : sources) {
                assertThat(matches(image.context(), source)).as("%s: COPY %s in context %s", image.dockerfile(),
                        source, image.context()).isNotEmpty();
            }
        }
    }

    @Test
    void imagesRunAsANonRootNumericUser() throws IOException {
        for (Image image : IMAGES) {
            List<String> lines = Files.readAllLines(image.dockerfile());
            List<String> users = lines.stream().filter(l -> l.startsWith("USER ")).toList();
            assertThat(users).as(image.dockerfile().toString()).isNotEmpty();
            assertThat(users.getLast()).isEqualTo("USER 65532:65532");
            String entry = lines.stream().filter(l -> l.startsWith("ENTRYPOINT")).reduce((a, b) -> b).orElseThrow();
            Matcher path = Pattern.compile("\"(/[^\"]+)\"").matcher(entry);
            assertThat(path.find()).isTrue();
            String target = path.group(1).equals("java") ? null : path.group(1);
            if (entry.contains("\"java\"")) {
                Matcher jar = Pattern.compile("\"(/[^\"]+\\.jar)\"").matcher(entry);
                assertThat(jar.find()).isTrue();
                target = jar.group(1);
            }
            String finalTarget = target;
            assertThat(lines).as("%s copies its entry point %s", image.dockerfile(), target).anySatisfy(l -> {
                assertThat(l).startsWith("COPY");
                String[] parts = l.trim().split("\\s+");
                String dest = parts[parts.length - 1];
                assertThat(finalTarget.equals(dest) || (dest.endsWith("/") && finalTarget.startsWith(dest))).isTrue();
            });
        }
    }

    private static List<Path> matches(Path context, String source) throws IOException {
        String trimmed = source.endsWith("/") ? source.substring(0, source.length() - 1) : source;
        if (!trimmed.contains("*")) {
            Path p = context.resolve(trimmed);
            return Files.exists(p) ? List.of(p) : List.of();
        }
        Path dir = context.resolve(trimmed).getParent();
        String glob = Path.of(trimmed).getFileName().toString();
        List<Path> out = new ArrayList<>();
        if (Files.isDirectory(dir)) {
            try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, glob)) {
                s.forEach(out::add);
            }
        }
        return out;
    }
}
