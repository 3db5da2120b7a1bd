{{/*
Object shapes shared by gateway and worker. Names and labels come from
_helpers.tpl.
*/}}

{{/* HorizontalPodAutoscaler: (dict "ctx" $ "component" "gateway" "name" <deployment> "a" <autoscaling>) */}}
{{- define "longhaul.hpa" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ .name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "longhaul.labels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ .name }}
  minReplicas: {{ .a.minReplicas }}
  maxReplicas: {{ .a.maxReplicas }}
  metrics:
    {{- if .demand }}
    # Slot demand, served by prometheus-adapter as an external metric (docs/scaling.md).
    - type: External
      external:
        metric:
          name: {{ .a.demand.adapterMetricName }}
          selector:
            matchLabels:
              job: worker
        target:
          type: Value
          value: {{ printf "%dm" (round (mulf .a.demand.targetUtilization 1000) 0 | int) | quote }}
    {{- end }}
    {{- with .a.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with .a.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
  {{- with .a.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* PodDisruptionBudget: (dict "ctx" $ "component" "gateway" "name" <name> "p" <pdb>) */}}
{{- define "longhaul.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "longhaul.labels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" .p.minAvailable) }}
  minAvailable: {{ .p.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .p.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "longhaul.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
{{- end -}}

{{/* ServiceAccount: (dict "ctx" $ "component" "gateway" "sa" <serviceAccount>) */}}
{{- define "longhaul.serviceAccount" -}}
{{- if .sa.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "longhaul.serviceAccountName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "longhaul.labels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
  {{- with .sa.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end -}}
{{- end -}}

{{/* ServiceMonitor: (dict "ctx" $ "component" "gateway" "name" <service> "port" <port name>) */}}
{{- define "longhaul.serviceMonitor" -}}
{{- $sm := .ctx.Values.metrics.serviceMonitor -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ .name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "longhaul.labels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  # job = the component (gateway, worker, resonate): what the alerts, the
  # dashboard and the autoscaling query select on.
  jobLabel: app.kubernetes.io/component
  selector:
    matchLabels:
      {{- include "longhaul.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
  namespaceSelector:
    matchNames:
      - {{ .ctx.Release.Namespace }}
  endpoints:
    - port: {{ .port }}
      path: /metrics
      interval: {{ $sm.interval }}
      scrapeTimeout: {{ $sm.scrapeTimeout }}
{{- end -}}

{{/* Egress rule allowing DNS lookups (any resolver: kube-dns, node-local-dns). */}}
{{- define "longhaul.netpol.dnsEgress" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}
