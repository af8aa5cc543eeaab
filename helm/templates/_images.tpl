{{/*
Container image references.
*/}}

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
