{{/*
Helpers shared by every template. The per-service templates all loop over .Values.services
(sorted by name, as Go templates range over maps) and skip disabled services; no template
file is specific to one service.
*/}}

{{/*
The prefix of every resource name: fullnameOverride or the release name, cut to 34 characters
so that the longest name the chart builds ("<prefix>-manufacturer-catalog-migrate") stays
within Kubernetes' 63-character limit.
*/}}
{{- define "wp.fullname" -}}
{{- $base := default .Release.Name .Values.fullnameOverride -}}
{{- $base | trunc 34 | trimSuffix "-" -}}
{{- end -}}

{{/* "<prefix>-<suffix>", e.g. wp.name (list $ "org-auth") → "rel-org-auth". */}}
{{- define "wp.name" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (include "wp.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every resource, but the instance label (see wp.labels and wp.selectorLabels). */}}
{{- define "wp.commonLabels" -}}
helm.sh/chart: {{ include "wp.chart" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: workflow-platform
app.kubernetes.io/version: {{ include "wp.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of a resource that carries no selector labels. */}}
{{- define "wp.labels" -}}
{{ include "wp.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Selector labels of one service's serving pods (Deployment, Service, PDB, HPA, NetworkPolicy,
ServiceMonitor). The component label keeps the migration Job's pods out of them.
Argument: (list $ "<service>").
*/}}
{{- define "wp.selectorLabels" -}}
app.kubernetes.io/name: {{ index . 1 }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{/*
The label that marks the fleet's own pods as peers: the NetworkPolicies admit http and gRPC
from pods of this release (app.kubernetes.io/instance) that carry it (the serving pods and the
helm test Pod).
*/}}
{{- define "wp.peerLabel" -}}
platform.workflow.dev/fleet-peer: "true"
{{- end -}}

{{/*
One service's effective settings: .Values.defaults overlaid key by key with the service's
block (a key set in the service block replaces the default as a whole). Returned as YAML;
callers use `include "wp.svc" (dict "root" $ "name" $name) | fromYaml`.
*/}}
{{- define "wp.svc" -}}
{{- $root := .root -}}
{{- $eff := deepCopy $root.Values.defaults -}}
{{- range $k, $v := index $root.Values.services .name -}}
{{- $_ := set $eff $k $v -}}
{{- end -}}
{{- toYaml $eff -}}
{{- end -}}

{{- define "wp.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "wp.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "wp.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{/* In-cluster base URL of a service's http port. Argument: (list $ "<service>"). */}}
{{- define "wp.serviceUrl" -}}
{{- $root := index . 0 -}}
{{- printf "http://%s.%s.svc.%s:8080" (include "wp.name" .) $root.Release.Namespace $root.Values.clusterDomain -}}
{{- end -}}

{{- define "wp.jwksUrl" -}}
{{- if .Values.config.jwt.jwksUrl -}}
{{- .Values.config.jwt.jwksUrl -}}
{{- else -}}
{{- printf "http://%s:8080/.well-known/jwks.json" (include "wp.name" (list . "org-auth")) -}}
{{- end -}}
{{- end -}}

{{/*
The local HTTP port of each service under `make run` (ARCHITECTURE.md §3): deploy/kong/kong.yaml
points at these, and the Kong ConfigMap rewrites them to the in-cluster Services.
*/}}
{{- define "wp.localHttpPorts" -}}
org-auth: 8100
human-agent: 8101
research: 8102
demo: 8103
nda: 8104
pricing: 8105
proposal: 8106
prd: 8107
orchestration: 8108
voice: 8109
config: 8110
monitoring: 8111
analytics: 8112
support: 8113
crm: 8114
manufacturer-catalog: 8115
tenant-provisioning: 8116
feedback: 8117
{{- end -}}

{{/* Data of the shared ConfigMap "<release>-fleet-env" (also hashed into pod annotations). */}}
{{- define "wp.sharedEnv" -}}
FLEET_ENV: {{ required "config.environment is required (FLEET_ENV, e.g. production)" .Values.config.environment | quote }}
FLEET_KAFKA_BOOTSTRAP: {{ required "config.kafkaBootstrap is required: the Kafka bootstrap servers, e.g. kafka:9092" .Values.config.kafkaBootstrap | quote }}
FLEET_JWT_ISSUER: {{ required "config.jwt.issuer is required (FLEET_JWT_ISSUER)" .Values.config.jwt.issuer | quote }}
FLEET_JWT_AUDIENCE: {{ required "config.jwt.audience is required (FLEET_JWT_AUDIENCE)" .Values.config.jwt.audience | quote }}
FLEET_JWT_JWKS_URL: {{ include "wp.jwksUrl" . | quote }}
RUST_LOG: {{ .Values.config.logLevel | quote }}
FLEET_DB_POOL_MAX: {{ .Values.config.dbPoolMax | toString | quote }}
{{- with .Values.config.otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{- range $k, $v := .Values.config.extraEnv }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/* Data of a service's own ConfigMap "<release>-<service>-env". Argument: dict root name svc. */}}
{{- define "wp.serviceEnv" -}}
OTEL_SERVICE_NAME: {{ .name | quote }}
{{- if and .svc.mountJwtSigningKey .root.Values.config.jwt.signingKid }}
FLEET_JWT_SIGNING_KID: {{ .root.Values.config.jwt.signingKid | quote }}
{{- end }}
{{- range $k, $v := .svc.env }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/*
An env var read from a pre-existing Secret, failing the render with a clear message when the
Secret name or key is missing.
Argument: dict "env" NAME "secret" name "key" key "path" "values.path.of.existingSecret" "what" text
*/}}
{{- define "wp.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "%s is required: the name of a pre-existing Secret holding %s (the chart never takes credentials as values)" .path .what) .secret | quote }}
      key: {{ required (printf "the key of %s in Secret %q is required" .env (toString .secret)) .key | quote }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* The database Secret the migration Job reads (migrateExistingSecret, else existingSecret). */}}
{{- define "wp.migrateSecret" -}}
{{- default .existingSecret .migrateExistingSecret -}}
{{- end -}}

{{/* The pod-level security context. */}}
{{- define "wp.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{- define "wp.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}
