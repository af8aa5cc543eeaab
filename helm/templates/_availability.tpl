{{/*
Availability objects built per tier: HorizontalPodAutoscaler and PodDisruptionBudget.
*/}}

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
