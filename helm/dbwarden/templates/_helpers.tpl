{{/* Chart name. */}}
{{- define "dbwarden.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix: the release name, or release-chart when the release name does not contain the chart name. */}}
{{- define "dbwarden.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The operator's name: Deployment, Service, webhook configuration, ClusterRole. */}}
{{- define "dbwarden.operator" -}}
{{- printf "%s-operator" (include "dbwarden.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Secret holding the serving certificate. */}}
{{- define "dbwarden.tlsSecret" -}}
{{- printf "%s-tls" (include "dbwarden.operator" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dbwarden.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dbwarden.operator" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "dbwarden.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "dbwarden.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dbwarden
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "dbwarden.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dbwarden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "dbwarden.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "dbwarden.sidecarImage" -}}
{{- printf "%s:%s" .Values.sidecar.image.repository (default .Chart.AppVersion .Values.sidecar.image.tag) }}
{{- end }}

{{- define "dbwarden.validateValues" -}}
{{- if not (has .Values.tls.mode (list "self-signed" "cert-manager")) }}
{{- fail (printf "tls.mode must be self-signed or cert-manager, not %q" .Values.tls.mode) }}
{{- end }}
{{- if not (has .Values.webhook.failurePolicy (list "Fail" "Ignore")) }}
{{- fail (printf "webhook.failurePolicy must be Fail or Ignore, not %q" .Values.webhook.failurePolicy) }}
{{- end }}
{{- if not (has .Values.webhook.reinvocationPolicy (list "Never" "IfNeeded")) }}
{{- fail (printf "webhook.reinvocationPolicy must be Never or IfNeeded, not %q" .Values.webhook.reinvocationPolicy) }}
{{- end }}
{{- end }}
