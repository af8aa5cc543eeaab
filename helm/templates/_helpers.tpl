{{/*
Names, labels and the small pieces that several templates share.
*/}}

{{- define "todo-chatbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
`<release>-<chart>`, or just the release name when it already contains the chart name.
*/}}
{{- define "todo-chatbot.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
`<fullname>-<component>`, at most 52 characters: a StatefulSet's pods carry a
controller-revision-hash label `<name>-<10 chars>` that must fit in 63.
Call with (dict "context" $ "component" "ui").
*/}}
{{- define "todo-chatbot.componentName" -}}
{{- $max := sub 51 (len .component) | int -}}
{{- printf "%s-%s" (include "todo-chatbot.fullname" .context | trunc $max | trimSuffix "-") .component -}}
{{- end -}}

{{- define "todo-chatbot.ui.fullname" -}}
{{- include "todo-chatbot.componentName" (dict "context" . "component" "ui") -}}
{{- end -}}

{{- define "todo-chatbot.mcp.fullname" -}}
{{- include "todo-chatbot.componentName" (dict "context" . "component" "mcp") -}}
{{- end -}}

{{- define "todo-chatbot.postgresql.fullname" -}}
{{- include "todo-chatbot.componentName" (dict "context" . "component" "postgresql") -}}
{{- end -}}

{{- define "todo-chatbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels: the stable subset, never changed by an upgrade (selectors are immutable).
Call with (dict "context" $ "component" "ui").
*/}}
{{- define "todo-chatbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "todo-chatbot.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
All standard labels, on every object and pod template.
Call with (dict "context" $ "component" "ui").
*/}}
{{- define "todo-chatbot.labels" -}}
{{ include "todo-chatbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: {{ .context.Chart.Name }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
helm.sh/chart: {{ include "todo-chatbot.chart" .context }}
{{- end -}}

{{- define "todo-chatbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "todo-chatbot.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
`registry/repository:tag` or `registry/repository@digest`; the tag defaults to appVersion.
Call with (dict "image" .Values.ui.image "context" $).
*/}}
{{- define "todo-chatbot.image" -}}
{{- $repository := .image.repository -}}
{{- if .image.registry -}}
{{- $repository = printf "%s/%s" .image.registry .image.repository -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (.image.tag | default .context.Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{/*
In-cluster DNS names of the MCP Service. The UI uses the fully qualified one; the server
accepts every form in its Host header check.
*/}}
{{- define "todo-chatbot.mcp.fqdn" -}}
{{- printf "%s.%s.svc.%s" (include "todo-chatbot.mcp.fullname" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{- define "todo-chatbot.mcp.url" -}}
{{- printf "http://%s:%d/mcp" (include "todo-chatbot.mcp.fqdn" .) (.Values.mcp.service.port | int) -}}
{{- end -}}

{{/*
The MCP server's URL for people's own MCP clients (NOTES.txt, and the page's API access dialog
through MCP_PUBLIC_URL): the MCP Ingress when it is on, else the `kubectl port-forward` address
NOTES.txt gives.
*/}}
{{- define "todo-chatbot.mcp.publicUrl" -}}
{{- $ingress := .Values.mcp.ingress -}}
{{- if $ingress.enabled -}}
{{- printf "%s://%s%s" (ternary "https" "http" $ingress.tls.enabled) $ingress.hostname $ingress.path -}}
{{- else -}}
http://localhost:8000/mcp
{{- end -}}
{{- end -}}

{{/*
Host header patterns of the MCP server: the Service's names, localhost (port-forward), the MCP
Ingress host when there is one, and mcp.extraAllowedHosts.
*/}}
{{- define "todo-chatbot.mcp.allowedHosts" -}}
{{- $short := include "todo-chatbot.mcp.fullname" . -}}
{{- $hosts := list $short (printf "%s.%s" $short .Release.Namespace) (printf "%s.%s.svc" $short .Release.Namespace) (include "todo-chatbot.mcp.fqdn" .) "localhost" "127.0.0.1" -}}
{{- if .Values.mcp.ingress.enabled -}}
{{- $hosts = append $hosts .Values.mcp.ingress.hostname -}}
{{- end -}}
{{- $patterns := list -}}
{{- range $hosts -}}
{{- $patterns = append $patterns (printf "%s:*" .) -}}
{{- end -}}
{{- concat $patterns .Values.mcp.extraAllowedHosts | join "," -}}
{{- end -}}

{{- define "todo-chatbot.postgresql.host" -}}
{{- printf "%s.%s.svc.%s" (include "todo-chatbot.postgresql.fullname" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/*
Where each secret lives: the release Secret unless an existing Secret is named.
The service token (read by the UI pods only) and its SHA-256 (read by the MCP pods) are two keys
of the same Secret.
*/}}
{{- define "todo-chatbot.mcpToken.secretName" -}}
{{- .Values.mcp.auth.existingSecret | default (include "todo-chatbot.fullname" .) -}}
{{- end -}}

{{- define "todo-chatbot.mcpToken.secretKey" -}}
{{- if .Values.mcp.auth.existingSecret -}}{{ .Values.mcp.auth.existingSecretKey }}{{- else -}}mcp-auth-token{{- end -}}
{{- end -}}

{{- define "todo-chatbot.mcpTokenHash.secretKey" -}}
{{- if .Values.mcp.auth.existingSecret -}}{{ .Values.mcp.auth.existingSecretHashKey }}{{- else -}}mcp-service-token-sha256{{- end -}}
{{- end -}}

{{- define "todo-chatbot.openai.enabled" -}}
{{- if or .Values.openai.existingSecret .Values.openai.apiKey -}}true{{- end -}}
{{- end -}}

{{- define "todo-chatbot.openai.secretName" -}}
{{- .Values.openai.existingSecret | default (include "todo-chatbot.fullname" .) -}}
{{- end -}}

{{- define "todo-chatbot.openai.secretKey" -}}
{{- if .Values.openai.existingSecret -}}{{ .Values.openai.existingSecretKey }}{{- else -}}openai-api-key{{- end -}}
{{- end -}}

{{- define "todo-chatbot.database.secretName" -}}
{{- if and (not .Values.postgresql.enabled) .Values.database.external.existingSecret -}}
{{- .Values.database.external.existingSecret -}}
{{- else -}}
{{- include "todo-chatbot.fullname" . -}}
{{- end -}}
{{- end -}}

{{- define "todo-chatbot.database.secretKey" -}}
{{- if and (not .Values.postgresql.enabled) .Values.database.external.existingSecret -}}
{{- .Values.database.external.existingSecretKey -}}
{{- else -}}
database-url
{{- end -}}
{{- end -}}

{{/*
A secret for the release Secret, in plain text: the value given, else the one the live Secret
already holds (so `helm upgrade` keeps it; `lookup` is empty in `helm template`), else random.
Call with (dict "context" $ "key" "mcp-auth-token" "value" .Values.mcp.auth.token).
*/}}
{{- define "todo-chatbot.secretValue" -}}
{{- if .value -}}
{{- .value -}}
{{- else -}}
{{- $live := lookup "v1" "Secret" .context.Release.Namespace (include "todo-chatbot.fullname" .context) | default dict -}}
{{- $previous := dig "data" .key "" $live -}}
{{- if $previous -}}
{{- $previous | b64dec -}}
{{- else -}}
{{- randAlphaNum 40 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Checksum of the release Secret's keys that one tier reads, for a pod annotation: a changed
value rolls that tier's pods and no other. (Secrets named by existingSecret are not seen: after
editing one, `kubectl rollout restart` the Deployments.)
Call with (dict "context" $ "keys" (list "mcp-service-token-sha256" "database-url")).
*/}}
{{- define "todo-chatbot.secretChecksum" -}}
{{- $secret := include (print .context.Template.BasePath "/secret.yaml") .context | fromYaml | default dict -}}
{{- $data := get $secret "data" | default dict -}}
{{- $read := dict -}}
{{- range .keys -}}
{{- if hasKey $data . -}}
{{- $_ := set $read . (get $data .) -}}
{{- end -}}
{{- end -}}
{{- $read | toJson | sha256sum -}}
{{- end -}}

{{/*
Pod-level settings shared by the app pods (UI, MCP, migration Job, helm test).
*/}}
{{- define "todo-chatbot.appPodSpec" -}}
serviceAccountName: {{ include "todo-chatbot.serviceAccountName" . }}
automountServiceAccountToken: false
# Service links would inject variables such as <NAME>_PORT=tcp://... that can collide with
# the app's own settings (MCP_PORT); the app finds its peers by DNS instead.
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/*
Affinity: the user's, else a spread-over-nodes preset.
Call with (dict "context" $ "component" "ui" "values" .Values.ui).
*/}}
{{- define "todo-chatbot.affinity" -}}
{{- if .values.affinity -}}
affinity:
  {{- toYaml .values.affinity | nindent 2 }}
{{- else if eq .values.podAntiAffinityPreset "soft" -}}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 1
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "todo-chatbot.selectorLabels" . | nindent 14 }}
{{- else if eq .values.podAntiAffinityPreset "hard" -}}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "todo-chatbot.selectorLabels" . | nindent 12 }}
{{- end -}}
{{- end -}}

{{/*
The migration container, used as the MCP pods' initContainer or by the hook Job.
The retry loop covers a database that is still starting (the bundled StatefulSet is created
in the same install); after maxAttempts it fails, and Kubernetes retries it with back-off.
*/}}
{{- define "todo-chatbot.migrateContainer" -}}
- name: migrate
  image: {{ include "todo-chatbot.image" (dict "image" .Values.mcp.image "context" .) }}
  imagePullPolicy: {{ .Values.mcp.image.pullPolicy }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  command:
    - sh
    - -c
    - |
      attempt=1
      until python -m mcp_server migrate; do
        if [ "$attempt" -ge {{ .Values.migrations.maxAttempts }} ]; then
          echo "migrate: giving up after $attempt attempts" >&2
          exit 1
        fi
        echo "migrate: attempt $attempt failed (is the database up yet?); retrying in 3s" >&2
        attempt=$((attempt + 1))
        sleep 3
      done
  # The same settings as the server: `migrate` loads and validates the whole configuration.
  {{- include "todo-chatbot.mcp.env" . | nindent 2 }}
  resources:
    {{- toYaml .Values.migrations.resources | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end -}}

{{/*
Environment of every container that runs mcp_server (server, migrations): the ConfigMap plus
the secrets, each from its own Secret. The server holds only the SHA-256 of the page's service
token, never the token: that goes to the UI pods alone.
*/}}
{{- define "todo-chatbot.mcp.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "todo-chatbot.mcp.fullname" . }}
env:
  - name: DATABASE_URL
    valueFrom:
      secretKeyRef:
        name: {{ include "todo-chatbot.database.secretName" . }}
        key: {{ include "todo-chatbot.database.secretKey" . }}
  - name: MCP_SERVICE_TOKEN_SHA256
    valueFrom:
      secretKeyRef:
        name: {{ include "todo-chatbot.mcpToken.secretName" . }}
        key: {{ include "todo-chatbot.mcpTokenHash.secretKey" . }}
  {{- with .Values.mcp.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/*
HorizontalPodAutoscaler for a Deployment.
Call with (dict "context" $ "component" "ui" "values" .Values.ui "name" $name).
*/}}
{{- define "todo-chatbot.hpa" -}}
{{- $autoscaling := .values.autoscaling -}}
{{- if $autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ .name }}
  namespace: {{ .context.Release.Namespace }}
  labels:
    {{- include "todo-chatbot.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ .name }}
  minReplicas: {{ $autoscaling.minReplicas }}
  maxReplicas: {{ $autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $autoscaling.targetCPUUtilizationPercentage }}
    {{- if $autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ $autoscaling.targetMemoryUtilizationPercentage }}
    {{- end }}
{{- end }}
{{- end -}}

{{/*
PodDisruptionBudget, only when a single pod is not the whole tier (a budget of 1 on one
replica would block every node drain).
Call with (dict "context" $ "component" "ui" "values" .Values.ui "name" $name).
*/}}
{{- define "todo-chatbot.pdb" -}}
{{- if and .values.pdb.create (or .values.autoscaling.enabled (gt (int .values.replicaCount) 1)) }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .context.Release.Namespace }}
  labels:
    {{- include "todo-chatbot.labels" . | nindent 4 }}
spec:
  minAvailable: {{ .values.pdb.minAvailable }}
  selector:
    matchLabels:
      {{- include "todo-chatbot.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/*
Settings that cannot be expressed in values.schema.json; rendered by secret.yaml, which every
install renders.
*/}}
{{- define "todo-chatbot.validateValues" -}}
{{- $external := or .Values.database.external.url .Values.database.external.existingSecret -}}
{{- if and .Values.postgresql.enabled $external -}}
{{- fail "database.external.* is set while postgresql.enabled=true: set postgresql.enabled=false to use the external database, or clear database.external" -}}
{{- end -}}
{{- if and (not .Values.postgresql.enabled) (not $external) -}}
{{- fail "postgresql.enabled=false needs an external database: set database.external.url or database.external.existingSecret" -}}
{{- end -}}
{{- if and .Values.ingress.tls.enabled (not .Values.ingress.hostname) -}}
{{- fail "ingress.tls.enabled=true needs ingress.hostname" -}}
{{- end -}}
{{- if and .Values.mcp.ingress.enabled (not .Values.mcp.ingress.hostname) -}}
{{- fail "mcp.ingress.enabled=true needs mcp.ingress.hostname: the MCP server answers only Host names it knows, and the chart adds this one to MCP_ALLOWED_HOSTS" -}}
{{- end -}}
{{- if and .Values.mcp.ingress.enabled (hasPrefix "*" .Values.mcp.ingress.hostname) -}}
{{- fail "mcp.ingress.hostname must name one host, not a wildcard: it is also the Host name the MCP server accepts (MCP_ALLOWED_HOSTS)" -}}
{{- end -}}
{{- $auth := .Values.mcp.auth -}}
{{- if and $auth.existingSecret (eq $auth.existingSecretKey $auth.existingSecretHashKey) -}}
{{- fail "mcp.auth.existingSecretKey and mcp.auth.existingSecretHashKey name the same key: the Secret holds the token and its SHA-256 under two keys (see mcp.auth.existingSecret in values.yaml)" -}}
{{- end -}}
{{- range $tier := list "ui" "mcp" -}}
{{- $autoscaling := index $.Values $tier "autoscaling" -}}
{{- if and $autoscaling.enabled (gt (int $autoscaling.minReplicas) (int $autoscaling.maxReplicas)) -}}
{{- fail (printf "%s.autoscaling.minReplicas is greater than %s.autoscaling.maxReplicas" $tier $tier) -}}
{{- end -}}
{{- end -}}
{{- end -}}
