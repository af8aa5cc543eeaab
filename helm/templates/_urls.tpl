{{/*
Addresses: the MCP Service's DNS names and URLs, the Host patterns the MCP server accepts,
the in-cluster model server's URL and the bundled PostgreSQL host.
*/}}

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
The in-cluster model server's OpenAI-compatible base URL (OPENAI_BASE_URL of the UI).
*/}}
{{- define "todo-chatbot.llm.url" -}}
{{- printf "http://%s.%s.svc.%s:%d/v1" (include "todo-chatbot.llm.fullname" .) .Release.Namespace .Values.clusterDomain (.Values.llm.service.port | int) -}}
{{- end -}}

{{/*
TCP port of llm.model.url (explicit, else the scheme's), for the download's egress rule.
*/}}
{{- define "todo-chatbot.llm.downloadPort" -}}
{{- $url := urlParse .Values.llm.model.url -}}
{{- $port := regexFind "[0-9]+$" (regexFind ":[0-9]+$" $url.host) -}}
{{- $port | default (ternary "443" "80" (eq $url.scheme "https")) -}}
{{- end -}}
