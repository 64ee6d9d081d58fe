package io.dbwarden.e2e;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs an injected sidecar container the way the kubelet would, as a local process: every volume it mounts is
 * materialised in a directory (Secrets and ConfigMaps from the API server, the projected token, emptyDirs), mount
 * paths in its arguments and environment are mapped to those directories, downward-API variables are resolved
 * from the pod, and its ports are moved to free local ones (there is no pod network namespace here).
 */
final class InjectedSidecar {
    final List<String> command = new ArrayList<>();
    final Map<String, String> env = new LinkedHashMap<>();
    final int listenPort;
    final int adminPort;

    InjectedSidecar(Pod pod, Container c, KubernetesClient client, String token, Path root, Path proxyJar)
            throws IOException {
        String ns = pod.getMetadata().getNamespace();
        Map<String, Path> mounts = new LinkedHashMap<>();
        for (VolumeMount m : c.getVolumeMounts()) {
            Volume v = pod.getSpec().getVolumes().stream().filter(x -> x.getName().equals(m.getName())).findFirst()
                    .orElseThrow(() -> new AssertionError("volume " + m.getName() + " is mounted but not defined"));
            Path dir = Files.createDirectories(root.resolve(v.getName()));
            if (v.getSecret() != null) {
                Secret s = client.secrets().inNamespace(ns).withName(v.getSecret().getSecretName()).get();
                if (s == null) {
                    throw new AssertionError("Secret " + v.getSecret().getSecretName() + " does not exist");
                }
                if (s.getData() != null) {
                    for (var e : s.getData().entrySet()) {
                        Files.write(dir.resolve(e.getKey()), Base64.getDecoder().decode(e.getValue()));
                    }
                }
                if (s.getStringData() != null) {
                    for (var e : s.getStringData().entrySet()) {
                        Files.writeString(dir.resolve(e.getKey()), e.getValue());
                    }
                }
            } else if (v.getConfigMap() != null) {
                ConfigMap cm = client.configMaps().inNamespace(ns).withName(v.getConfigMap().getName()).get();
                if (cm == null) {
                    throw new AssertionError("ConfigMap " + ns + "/" + v.getConfigMap().getName() + " does not exist "
                            + "(the kubelet would not start the pod)");
                }
                for (var e : cm.getData().entrySet()) {
                    Files.writeString(dir.resolve(e.getKey()), e.getValue());
                }
            } else if (v.getProjected() != null) {
                for (var source : v.getProjected().getSources()) {
                    if (source.getServiceAccountToken() != null) {
                        if (!"dbwarden".equals(source.getServiceAccountToken().getAudience())) {
                            throw new AssertionError("projected token audience must be dbwarden");
                        }
                        Files.writeString(dir.resolve(source.getServiceAccountToken().getPath()), token);
                    }
                }
            } else if (v.getEmptyDir() == null) {
                throw new AssertionError("unexpected volume type " + v);
            }
            mounts.put(m.getMountPath(), dir);
        }
        List<Map.Entry<String, Path>> byLength = new ArrayList<>(mounts.entrySet());
        byLength.sort(Comparator.comparingInt((Map.Entry<String, Path> e) -> e.getKey().length()).reversed());

        Map<String, String> fields = Map.of("metadata.name", pod.getMetadata().getName(),
                "metadata.namespace", ns, "spec.serviceAccountName", pod.getSpec().getServiceAccountName());
        for (EnvVar e : c.getEnv()) {
            String value;
            if (e.getValueFrom() != null) {
                value = fields.get(e.getValueFrom().getFieldRef().getFieldPath());
            } else {
                Matcher m = Pattern.compile("\\$\\(([A-Z_]+)\\)").matcher(e.getValue());
                StringBuilder sb = new StringBuilder();
                while (m.find()) {
                    m.appendReplacement(sb, Matcher.quoteReplacement(env.getOrDefault(m.group(1), m.group())));
                }
                m.appendTail(sb);
                value = map(sb.toString(), byLength);
            }
            env.put(e.getName(), value);
        }
        listenPort = Processes.freePort();
        adminPort = Processes.freePort();
        command.addAll(List.of(Processes.java(), "-jar", proxyJar.toString()));
        List<String> args = c.getArgs();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (i > 0 && args.get(i - 1).equals("--listen")) {
                a = "127.0.0.1:" + listenPort;
            } else if (i > 0 && args.get(i - 1).equals("--admin-listen")) {
                a = "127.0.0.1:" + adminPort;
            } else {
                a = map(a, byLength);
            }
            command.add(a);
        }
    }

    private static String map(String s, List<Map.Entry<String, Path>> mounts) {
        for (var m : mounts) {
            if (s.startsWith(m.getKey() + "/") || s.equals(m.getKey())) {
                return m.getValue() + s.substring(m.getKey().length());
            }
            s = s.replace("=" + m.getKey(), "=" + m.getValue());
        }
        return s;
    }

    Process start(Path log) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        return pb.start();
    }
}
