{{/*
Checks of values that values.schema.json cannot express.
*/}}

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
