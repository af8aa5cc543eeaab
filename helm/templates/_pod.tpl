{{/*
Pod and container pieces shared by the workloads: pod-level settings, affinity, the migration
container and the mcp_server environment.
*/}}

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
