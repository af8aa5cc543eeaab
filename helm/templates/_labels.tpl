{{/*
Standard Kubernetes labels: the immutable selector subset and the full set.
*/}}

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
