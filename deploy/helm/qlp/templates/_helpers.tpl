{{/*
What the qlp binary serves: each target's HTTP port and the setting that
sets its listen address (internal/cli, docs/configuration.md). The worker's
port serves only probes and /metrics. deploy/helm_test.go checks this table
against the binary.
*/}}
{{- define "qlp.targets" -}}
orchestrator: {port: 8000, addrEnv: QLP_API_ADDR, urlEnv: ""}
agents: {port: 8001, addrEnv: QLP_AGENTS_ADDR, urlEnv: ""}
validation: {port: 8002, addrEnv: QLP_VALIDATION_ADDR, urlEnv: QLP_VALIDATION_URL}
memory: {port: 8003, addrEnv: QLP_MEMORY_ADDR, urlEnv: QLP_MEMORY_URL}
sandbox: {port: 8004, addrEnv: QLP_SANDBOX_ADDR, urlEnv: QLP_SANDBOX_URL}
worker: {port: 8005, addrEnv: QLP_WORKER_ADDR, urlEnv: ""}
marketing: {port: 8006, addrEnv: QLP_MARKETING_ADDR, urlEnv: ""}
{{- end }}

{{/*
Targets clients call directly (tenant API keys): reachable from the
ingress controller's namespace and from the release's own namespace. The
others take requests only from the targets that call them.
*/}}
{{- define "qlp.publicTargets" -}}
orchestrator: true
agents: true
{{- end }}

{{/*
Which services a distributed target calls (their *_URL settings). The
Agent Factory calls none: it needs the database and the LLM settings,
which every pod gets.
*/}}
{{- define "qlp.dependencies" -}}
orchestrator: []
agents: []
validation: [sandbox]
memory: []
sandbox: []
worker: [memory, validation]
marketing: []
{{- end }}

{{- define "qlp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "qlp.fullname" -}}
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

{{- define "qlp.labels" -}}
app.kubernetes.io/name: {{ include "qlp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{ include "qlp.commonLabels" . }}
{{- end }}

{{/* Labels besides name and instance (pod templates add the selector labels). */}}
{{- define "qlp.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: qlp
{{- end }}

{{/* Selector labels of one component: (dict "ctx" $ "component" "orchestrator") */}}
{{- define "qlp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "qlp.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "qlp.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "qlp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "qlp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "qlp.configName" -}}
{{ include "qlp.fullname" . }}-config
{{- end }}

{{- define "qlp.secretName" -}}
{{- if .Values.secrets.create }}
{{- include "qlp.fullname" . }}-secrets
{{- else }}
{{- required "secrets.existingSecret is required when secrets.create is false" .Values.secrets.existingSecret }}
{{- end }}
{{- end }}

{{/* Checks what distributed mode cannot run without. */}}
{{- define "qlp.validateDistributed" -}}
{{- if not .Values.config.QLP_TEMPORAL_ADDRESS }}
{{- fail "distributed mode: set config.QLP_TEMPORAL_ADDRESS (every process must share one Temporal; empty would start an embedded server in each)" }}
{{- end }}
{{- if not .Values.signingKey.existingSecret }}
{{- fail "distributed mode: set signingKey.existingSecret (every worker must sign capsules with the same key)" }}
{{- end }}
{{- if .Values.secrets.create }}
{{- if not .Values.secrets.values.QLP_DATABASE_URL }}
{{- fail "distributed mode: set secrets.values.QLP_DATABASE_URL (every process shares one PostgreSQL) or use secrets.existingSecret" }}
{{- end }}
{{- if not .Values.secrets.values.QLP_SERVICE_TOKEN }}
{{- fail "distributed mode: set secrets.values.QLP_SERVICE_TOKEN (services authenticate each other with it) or use secrets.existingSecret" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Environment every QLP container gets besides the ConfigMap and the Secret. */}}
{{- define "qlp.commonEnv" -}}
- name: QLP_DATA_DIR
  value: {{ .Values.dataDir | quote }}
# The root file system is read-only: tools that write under $HOME (caches of
# the checkers and toolchains) get the writable /tmp.
- name: HOME
  value: /tmp
# The Go runtime collects harder near the container's memory limit instead
# of being killed; QLPHighMemory compares resident memory with it.
- name: GOMEMLIMIT
  valueFrom:
    resourceFieldRef:
      containerName: qlp
      resource: limits.memory
{{- end }}

{{/* envFrom: the ConfigMap and the Secret. */}}
{{- define "qlp.envFrom" -}}
- configMapRef:
    name: {{ include "qlp.configName" . }}
- secretRef:
    name: {{ include "qlp.secretName" . }}
{{- end }}

{{/* Volumes: data (a claim in single mode, else emptyDir), /tmp, the signing key. */}}
{{- define "qlp.volumes" -}}
- name: data
{{- if eq .Values.deploymentMode "single" }}
  persistentVolumeClaim:
    claimName: {{ include "qlp.fullname" . }}-data
{{- else }}
  emptyDir: {}
{{- end }}
- name: tmp
  emptyDir: {}
{{- if .Values.signingKey.existingSecret }}
- name: signing-key
  secret:
    secretName: {{ .Values.signingKey.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.signingKey.key }}
        path: capsule-signing.pem
{{- end }}
{{- end }}

{{- define "qlp.volumeMounts" -}}
- name: data
  mountPath: {{ .Values.dataDir }}
- name: tmp
  mountPath: /tmp
{{- if .Values.signingKey.existingSecret }}
- name: signing-key
  mountPath: {{ .Values.dataDir }}/keys
  readOnly: true
{{- end }}
{{- end }}

{{/* HTTP probes on a named port: (dict "port" "orchestrator") */}}
{{- define "qlp.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: {{ .port }}}
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  httpGet: {path: /healthz, port: {{ .port }}}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: {{ .port }}}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
{{- end }}

{{/* Security contexts: (dict "ctx" $ "sandbox" true|false) */}}
{{- define "qlp.podSecurityContext" -}}
{{- if and .sandbox .ctx.Values.sandbox.privileged }}
runAsUser: 0
runAsNonRoot: false
fsGroup: 65532
{{- else }}
{{- toYaml .ctx.Values.podSecurityContext }}
{{- end }}
{{- end }}

{{- define "qlp.containerSecurityContext" -}}
{{- if and .sandbox .ctx.Values.sandbox.privileged }}
privileged: true
readOnlyRootFilesystem: true
{{- else }}
{{- toYaml .ctx.Values.containerSecurityContext }}
{{- end }}
{{- end }}

{{/* Pod annotations that roll the pods when the configuration changes. */}}
{{- define "qlp.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
