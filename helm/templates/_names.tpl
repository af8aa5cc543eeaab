{{/*
Resource names: the chart's name and fullname, each component's name, the chart label value
and the ServiceAccount name.
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

{{- define "todo-chatbot.llm.fullname" -}}
{{- include "todo-chatbot.componentName" (dict "context" . "component" "llm") -}}
{{- end -}}

{{- define "todo-chatbot.postgresql.fullname" -}}
{{- include "todo-chatbot.componentName" (dict "context" . "component" "postgresql") -}}
{{- end -}}

{{- define "todo-chatbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "todo-chatbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "todo-chatbot.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
