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
through MCP_PUBLIC_URL): mcp.oidc.publicUrl when it is set, else the MCP Ingress when it is on,
else the `kubectl port-forward` address NOTES.txt gives.
*/}}
{{- define "todo-chatbot.mcp.publicUrl" -}}
{{- $ingress := .Values.mcp.ingress -}}
{{- if .Values.mcp.oidc.publicUrl -}}
{{- .Values.mcp.oidc.publicUrl -}}
{{- else if $ingress.enabled -}}
{{- printf "%s://%s%s" (ternary "https" "http" $ingress.tls.enabled) $ingress.hostname $ingress.path -}}
{{- else -}}
http://localhost:8000/mcp
{{- end -}}
{{- end -}}

{{/*
MCP_PUBLIC_URL of the MCP server with OIDC on (the `resource` of its protected resource
metadata): the public URL when one is known (mcp.oidc.publicUrl, the MCP Ingress), else empty and
the server names the URL each request came in on (e.g. through `kubectl port-forward`).
*/}}
{{- define "todo-chatbot.mcp.oidcPublicUrl" -}}
{{- if or .Values.mcp.oidc.publicUrl .Values.mcp.ingress.enabled -}}
{{- include "todo-chatbot.mcp.publicUrl" . -}}
{{- end -}}
{{- end -}}

{{/*
Where OAuth clients discover how to sign in to the MCP server (RFC 9728, path form):
`<scheme>://<host>/.well-known/oauth-protected-resource<path of the MCP URL>`.
*/}}
{{- define "todo-chatbot.mcp.resourceMetadataPath" -}}
{{- printf "/.well-known/oauth-protected-resource%s" ((urlParse .).path | trimSuffix "/") -}}
{{- end -}}

{{- define "todo-chatbot.mcp.resourceMetadataUrl" -}}
{{- $url := urlParse (include "todo-chatbot.mcp.publicUrl" .) -}}
{{- printf "%s://%s%s" $url.scheme $url.host (include "todo-chatbot.mcp.resourceMetadataPath" (include "todo-chatbot.mcp.publicUrl" .)) -}}
{{- end -}}

{{/*
The page's public URL, from the UI Ingress (https with TLS); empty without an Ingress or a single
host name to build it from.
*/}}
{{- define "todo-chatbot.ui.publicUrl" -}}
{{- $ingress := .Values.ingress -}}
{{- if and $ingress.enabled $ingress.hostname (not (hasPrefix "*" $ingress.hostname)) -}}
{{- printf "%s://%s%s" (ternary "https" "http" $ingress.tls.enabled) $ingress.hostname ($ingress.path | trimSuffix "/") -}}
{{- end -}}
{{- end -}}

{{/*
OIDC_REDIRECT_URL: ui.auth.oidc.redirectUrl, else the page's public URL + /oauth2callback (the
route of Streamlit's sign-in callback); empty when neither is known (validateValues then fails).
*/}}
{{- define "todo-chatbot.ui.oidcRedirectUrl" -}}
{{- if .Values.ui.auth.oidc.redirectUrl -}}
{{- .Values.ui.auth.oidc.redirectUrl -}}
{{- else -}}
{{- with include "todo-chatbot.ui.publicUrl" . -}}
{{- printf "%s/oauth2callback" . -}}
{{- end -}}
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
