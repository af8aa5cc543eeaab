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
{{- $llm := .Values.llm -}}
{{- if $llm.enabled -}}
{{- $hosted := list -}}
{{- range $key := list "apiKey" "existingSecret" "baseUrl" -}}
{{- if index $.Values.openai $key -}}
{{- $hosted = append $hosted (printf "openai.%s" $key) -}}
{{- end -}}
{{- end -}}
{{- if $hosted -}}
{{- fail (printf "llm.enabled=true wires the UI to the in-cluster model server, and these values point it at another model: %s. Clear them, or set llm.enabled=false to use that model" (join ", " $hosted)) -}}
{{- end -}}
{{- if and $llm.model.url $llm.model.existingClaim -}}
{{- fail "llm.model.url and llm.model.existingClaim are both set: set one, the URL to download the GGUF file or the PersistentVolumeClaim that already holds it" -}}
{{- end -}}
{{- if not (or $llm.model.url $llm.model.existingClaim) -}}
{{- fail "llm.enabled=true needs a model: set llm.model.url (a GGUF file to download, ideally with llm.model.sha256) or llm.model.existingClaim (a PersistentVolumeClaim holding it at llm.model.path)" -}}
{{- end -}}
{{- if and $llm.model.sha256 (not $llm.model.url) -}}
{{- fail "llm.model.sha256 checks a download: it needs llm.model.url (a file on llm.model.existingClaim is used as it is)" -}}
{{- end -}}
{{- end -}}
{{- include "todo-chatbot.validateOidc" . -}}
{{- range $tier := list "ui" "mcp" -}}
{{- $autoscaling := index $.Values $tier "autoscaling" -}}
{{- if and $autoscaling.enabled (gt (int $autoscaling.minReplicas) (int $autoscaling.maxReplicas)) -}}
{{- fail (printf "%s.autoscaling.minReplicas is greater than %s.autoscaling.maxReplicas" $tier $tier) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Single sign-on: what the page's login (ui.auth.mode=oidc) and the MCP server's token check
(mcp.oidc) need before anything is deployed.
*/}}
{{- define "todo-chatbot.validateOidc" -}}
{{- $mcp := .Values.mcp.oidc -}}
{{- if and $mcp.issuer (not $mcp.audience) -}}
{{- $example := include "todo-chatbot.mcp.oidcPublicUrl" . | default "https://todo.example.com/mcp" -}}
{{- fail (printf "mcp.oidc.issuer is set without mcp.oidc.audience: set it to the `aud` your provider puts in access tokens for this server, usually the public URL of /mcp (e.g. %s)" $example) -}}
{{- end -}}
{{- if eq .Values.ui.auth.mode "oidc" -}}
{{- $oidc := .Values.ui.auth.oidc -}}
{{- if not $oidc.issuer -}}
{{- fail "ui.auth.mode=oidc needs ui.auth.oidc.issuer: your provider's issuer URL (the page reads <issuer>/.well-known/openid-configuration)" -}}
{{- end -}}
{{- if not $oidc.clientId -}}
{{- fail "ui.auth.mode=oidc needs ui.auth.oidc.clientId: the client id your provider gave this app" -}}
{{- end -}}
{{- if not $oidc.existingSecret -}}
{{- fail (printf "ui.auth.mode=oidc needs ui.auth.oidc.existingSecret: the name of a Secret holding the client secret (key %s) and the cookie secret (key %s), e.g. kubectl create secret generic todo-oidc --from-literal=%s=<client secret> --from-literal=%s=$(openssl rand -hex 32)" $oidc.clientSecretKey $oidc.cookieSecretKey $oidc.clientSecretKey $oidc.cookieSecretKey) -}}
{{- end -}}
{{- if eq $oidc.clientSecretKey $oidc.cookieSecretKey -}}
{{- fail "ui.auth.oidc.clientSecretKey and ui.auth.oidc.cookieSecretKey name the same key: the Secret holds the client secret and the cookie secret under two keys" -}}
{{- end -}}
{{- if not (include "todo-chatbot.ui.oidcRedirectUrl" .) -}}
{{- fail "ui.auth.mode=oidc needs ui.auth.oidc.redirectUrl, the page's public URL + /oauth2callback as registered with your provider (e.g. https://todo.example.com/oauth2callback); with ingress.enabled=true and one ingress.hostname the chart derives it" -}}
{{- end -}}
{{- if and $oidc.forwardAccessToken (not $mcp.issuer) -}}
{{- fail "ui.auth.oidc.forwardAccessToken=true sends the signed-in user's own access token to the MCP server, which then must check it: set mcp.oidc.issuer and mcp.oidc.audience, or set ui.auth.oidc.forwardAccessToken=false to keep calling it with the service token" -}}
{{- end -}}
{{- end -}}
{{- end -}}
