{{/*
Secrets: which Secret and key each one is read from, their values in the release Secret, and
the checksums that roll pods when they change.
*/}}

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

{{/*
The key the UI sends as OPENAI_API_KEY: the in-cluster model server's (llm.enabled, which
validateValues keeps apart from openai.*), else the hosted model's.
*/}}
{{- define "todo-chatbot.openai.enabled" -}}
{{- if or .Values.llm.enabled .Values.openai.existingSecret .Values.openai.apiKey -}}true{{- end -}}
{{- end -}}

{{- define "todo-chatbot.openai.secretName" -}}
{{- if .Values.llm.enabled -}}
{{- include "todo-chatbot.llm.secretName" . -}}
{{- else -}}
{{- .Values.openai.existingSecret | default (include "todo-chatbot.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "todo-chatbot.openai.secretKey" -}}
{{- if .Values.llm.enabled -}}
{{- include "todo-chatbot.llm.secretKey" . -}}
{{- else if .Values.openai.existingSecret -}}
{{- .Values.openai.existingSecretKey -}}
{{- else -}}
openai-api-key
{{- end -}}
{{- end -}}

{{/*
The model server's API key (LLAMA_API_KEY), which the UI pods send too.
*/}}
{{- define "todo-chatbot.llm.secretName" -}}
{{- .Values.llm.auth.existingSecret | default (include "todo-chatbot.fullname" .) -}}
{{- end -}}

{{- define "todo-chatbot.llm.secretKey" -}}
{{- if .Values.llm.auth.existingSecret -}}{{ .Values.llm.auth.existingSecretKey }}{{- else -}}llm-api-key{{- end -}}
{{- end -}}

{{/*
The page's OIDC client secret and cookie secret (ui.auth.mode=oidc): two keys of a Secret of the
user's, never values nor generated. The client secret comes from the provider; the cookie secret
sits next to it, the same for every UI replica.
*/}}
{{- define "todo-chatbot.oidc.secretName" -}}
{{- .Values.ui.auth.oidc.existingSecret -}}
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
