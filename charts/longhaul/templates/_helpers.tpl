{{/*
Names and labels. Every template takes its names and labels from here.
Selector labels hold only what never changes across upgrades: name, instance
and component (never the chart version or the app version).
*/}}

{{- define "longhaul.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "longhaul.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "longhaul.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a component's objects: (dict "ctx" $ "component" "gateway") */}}
{{- define "longhaul.componentName" -}}
{{- printf "%s-%s" (include "longhaul.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: (dict "ctx" $ "component" "gateway") */}}
{{- define "longhaul.selectorLabels" -}}
app.kubernetes.io/name: {{ include "longhaul.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Full label set: (dict "ctx" $ "component" "gateway") */}}
{{- define "longhaul.labels" -}}
helm.sh/chart: {{ include "longhaul.chart" .ctx }}
{{ include "longhaul.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: longhaul
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod template labels: labels plus the component's podLabels. */}}
{{- define "longhaul.podLabels" -}}
{{ include "longhaul.labels" (dict "ctx" .ctx "component" .component) }}
{{- with .podLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Object names */}}
{{- define "longhaul.gateway.name" -}}{{ include "longhaul.componentName" (dict "ctx" . "component" "gateway") }}{{- end -}}
{{- define "longhaul.worker.name" -}}{{ include "longhaul.componentName" (dict "ctx" . "component" "worker") }}{{- end -}}
{{- define "longhaul.resonate.name" -}}{{ include "longhaul.componentName" (dict "ctx" . "component" "resonate") }}{{- end -}}
{{- define "longhaul.resonate.headlessName" -}}{{ include "longhaul.componentName" (dict "ctx" . "component" "resonate-headless") }}{{- end -}}
{{- define "longhaul.postgresql.name" -}}{{ include "longhaul.componentName" (dict "ctx" . "component" "postgresql") }}{{- end -}}
{{- define "longhaul.postgresql.headlessName" -}}{{ include "longhaul.componentName" (dict "ctx" . "component" "postgresql-headless") }}{{- end -}}
{{- define "longhaul.retention.name" -}}{{ include "longhaul.componentName" (dict "ctx" . "component" "retention") }}{{- end -}}
{{- define "longhaul.test.name" -}}{{ include "longhaul.componentName" (dict "ctx" . "component" "test") }}{{- end -}}
{{- define "longhaul.monitoring.name" -}}{{ include "longhaul.componentName" (dict "ctx" . "component" "monitoring") }}{{- end -}}
{{- define "longhaul.worker.postgresAuthName" -}}{{ include "longhaul.componentName" (dict "ctx" . "component" "worker-postgresql") }}{{- end -}}

{{/* ServiceAccount name: (dict "ctx" $ "component" "gateway" "sa" .Values.gateway.serviceAccount) */}}
{{- define "longhaul.serviceAccountName" -}}
{{- if .sa.create -}}
{{- default (include "longhaul.componentName" (dict "ctx" .ctx "component" .component)) .sa.name -}}
{{- else -}}
{{- default "default" .sa.name -}}
{{- end -}}
{{- end -}}

{{/* Image reference: (dict "image" .Values.gateway.image "default" .Chart.AppVersion) */}}
{{- define "longhaul.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .default .image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{/* In-cluster URL of the Resonate server, used by gateway and worker. */}}
{{- define "longhaul.resonate.url" -}}
{{- printf "http://%s.%s.svc:%d" (include "longhaul.resonate.name" .) .Release.Namespace (int .Values.resonate.port) -}}
{{- end -}}

{{/* RESONATE_TOKEN from a Secret when auth is on with a static token (gateway and worker). */}}
{{- define "longhaul.resonateTokenEnv" -}}
{{- $a := .Values.resonate.auth -}}
{{- if and $a.enabled $a.tokenSecret.name -}}
- name: RESONATE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $a.tokenSecret.name }}
      key: {{ $a.tokenSecret.key }}
{{- end }}
{{- end -}}

{{/* OpenTelemetry env of the gateway and worker containers (tracing.*); nothing when off. */}}
{{- define "longhaul.tracingEnv" -}}
{{- $t := .Values.tracing -}}
{{- if $t.enabled -}}
{{- $attrs := list (printf "k8s.namespace.name=%s" .Release.Namespace) "k8s.pod.name=$(K8S_POD_NAME)" -}}
{{- range $key := keys $t.resourceAttributes | sortAlpha -}}
{{- $attrs = append $attrs (printf "%s=%s" $key (get $t.resourceAttributes $key)) -}}
{{- end -}}
# Before OTEL_RESOURCE_ATTRIBUTES, which refers to it.
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ required "tracing.endpoint is required with tracing.enabled" $t.endpoint | quote }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $t.samplerRatio | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- end }}
{{- end -}}

{{/* Where gateway and worker find the private key they mint tokens from. */}}
{{- define "longhaul.resonateKeyDir" -}}/etc/longhaul/resonate-auth{{- end -}}
{{- define "longhaul.resonateKeyMinting" -}}
{{- if and .Values.resonate.auth.enabled .Values.resonate.auth.privateKeySecret.name -}}true{{- end -}}
{{- end -}}

{{/* ConfigMap entries of gateway and worker for Resonate auth (no secret in them). */}}
{{- define "longhaul.resonateAuthConfig" -}}
{{- $a := .Values.resonate.auth -}}
{{- if $a.enabled }}
{{- if include "longhaul.resonateKeyMinting" . }}
LONGHAUL_RESONATE_AUTH_PRIVATE_KEY: {{ printf "%s/private.pem" (include "longhaul.resonateKeyDir" .) | quote }}
LONGHAUL_RESONATE_AUTH_TTL_S: {{ int $a.tokenTtlSeconds | quote }}
{{- else }}
LONGHAUL_RESONATE_AUTH_WARN_S: {{ int $a.tokenWarnSeconds | quote }}
{{- end }}
{{- with $a.issuer }}
RESONATE_AUTH__ISS: {{ . | quote }}
{{- end }}
{{- with $a.audience }}
RESONATE_AUTH__AUD: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The private key volume (gateway and worker pods), mounted read-only, group-readable. */}}
{{- define "longhaul.resonateKeyVolume" -}}
{{- if include "longhaul.resonateKeyMinting" . -}}
- name: resonate-auth
  secret:
    secretName: {{ .Values.resonate.auth.privateKeySecret.name }}
    defaultMode: 0440
    items:
      - key: {{ .Values.resonate.auth.privateKeySecret.key }}
        path: private.pem
{{- end }}
{{- end -}}
{{- define "longhaul.resonateKeyMount" -}}
{{- if include "longhaul.resonateKeyMinting" . -}}
- name: resonate-auth
  mountPath: {{ include "longhaul.resonateKeyDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{/*
Gateway authentication (auth.*). The API key file is mounted as a whole
directory (never subPath), so an updated Secret reaches the running gateways.
*/}}
{{- define "longhaul.auth.keysDir" -}}/etc/longhaul/api-keys{{- end -}}
{{- define "longhaul.auth.idSecretName" -}}
{{- default (printf "%s-id" (include "longhaul.gateway.name" .)) .Values.auth.idSecret.existingSecret -}}
{{- end -}}

{{/* ConfigMap entries of the gateway's authentication. */}}
{{- define "longhaul.auth.config" -}}
{{- $a := .Values.auth -}}
LONGHAUL_AUTH_MODE: {{ ternary "none" "required" (eq $a.mode "none") | quote }}
{{- if eq $a.mode "apiKeys" }}
LONGHAUL_AUTH_API_KEYS_FILE: {{ printf "%s/%s" (include "longhaul.auth.keysDir" .) $a.apiKeys.key | quote }}
{{- end }}
{{- if eq $a.mode "oidc" }}
LONGHAUL_AUTH_OIDC_ISSUER: {{ $a.oidc.issuer | quote }}
LONGHAUL_AUTH_OIDC_AUDIENCE: {{ $a.oidc.audience | quote }}
LONGHAUL_AUTH_OIDC_JWKS_URL: {{ $a.oidc.jwksUrl | quote }}
LONGHAUL_AUTH_OIDC_TENANT_CLAIM: {{ $a.oidc.tenantClaim | quote }}
LONGHAUL_AUTH_OIDC_SCOPES_CLAIM: {{ $a.oidc.scopesClaim | quote }}
LONGHAUL_AUTH_OIDC_ALGORITHMS: {{ join "," $a.oidc.algorithms | quote }}
{{- end }}
LONGHAUL_AUTH_RELOAD_INTERVAL_S: {{ $a.reloadIntervalSeconds | quote }}
{{- end -}}

{{/* Name of the Secret holding the database password or URL. */}}
{{- define "longhaul.postgresql.secretName" -}}
{{- if .Values.postgresql.bundled.enabled -}}
{{- default (include "longhaul.postgresql.name" .) .Values.postgresql.bundled.existingSecret -}}
{{- else -}}
{{- .Values.postgresql.external.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* "true" when the database URL itself (not a password) is in the Secret: an external URL key. */}}
{{- define "longhaul.postgresql.urlInSecret" -}}
{{- if and (not .Values.postgresql.bundled.enabled) .Values.postgresql.external.urlKey -}}true{{- end -}}
{{- end -}}

{{/*
Worker slot demand, the signal of the demand autoscaling modes (docs/scaling.md):
(busy slots + tasks queued in the workers) / slots, over this release's workers.
clamp_min: no worker reporting is demand 0, not a division by zero.
*/}}
{{- define "longhaul.worker.demandSelector" -}}
{{- default (printf "namespace=%q,job=\"worker\"" .Release.Namespace) .Values.worker.autoscaling.demand.seriesSelector -}}
{{- end -}}
{{- define "longhaul.worker.demandQuery" -}}
{{- $s := include "longhaul.worker.demandSelector" . -}}
(sum(longhaul_worker_task_slots_busy{ {{- $s -}} }) + sum(longhaul_worker_tasks_queued{ {{- $s -}} })) / clamp_min(sum(longhaul_worker_task_slots{ {{- $s -}} }), 1)
{{- end -}}

{{/*
A private CA for the external Postgres (postgresql.external.caCert): "true"
when one is mounted into the Resonate server, at caFile.
*/}}
{{- define "longhaul.postgresql.caEnabled" -}}
{{- $ca := .Values.postgresql.external.caCert -}}
{{- if and (not .Values.postgresql.bundled.enabled) (or $ca.secretName $ca.configMapName) -}}true{{- end -}}
{{- end -}}
{{- define "longhaul.postgresql.caDir" -}}/etc/resonate/ca{{- end -}}
{{- define "longhaul.postgresql.caFile" -}}{{ include "longhaul.postgresql.caDir" . }}/ca.crt{{- end -}}

{{/*
Environment of the Resonate server container that points it at Postgres.
The URL comes from a Secret: either a full URL key, or a password key that
Kubernetes substitutes into the URL ($(VAR) expansion of an earlier variable).
*/}}
{{- define "longhaul.resonate.storageEnv" -}}
- name: RESONATE_STORAGE__TYPE
  value: postgres
{{- $pg := .Values.postgresql }}
{{- if and $pg.bundled.enabled (not $pg.bundled.existingSecret) }}
- name: RESONATE_STORAGE__POSTGRES__URL
  valueFrom:
    secretKeyRef:
      name: {{ include "longhaul.postgresql.secretName" . }}
      key: url
{{- else if and (not $pg.bundled.enabled) $pg.external.urlKey }}
- name: RESONATE_STORAGE__POSTGRES__URL
  valueFrom:
    secretKeyRef:
      name: {{ include "longhaul.postgresql.secretName" . }}
      key: {{ $pg.external.urlKey }}
{{- else }}
- name: LONGHAUL_POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "longhaul.postgresql.secretName" . }}
      key: {{ ternary $pg.bundled.passwordKey $pg.external.passwordKey $pg.bundled.enabled }}
- name: RESONATE_STORAGE__POSTGRES__URL
{{- if $pg.bundled.enabled }}
  value: {{ printf "postgres://%s:$(LONGHAUL_POSTGRES_PASSWORD)@%s:5432/%s?sslmode=disable" $pg.bundled.user (include "longhaul.postgresql.name" .) $pg.bundled.database | quote }}
{{- else }}
  {{- $url := printf "postgres://%s:$(LONGHAUL_POSTGRES_PASSWORD)@%s:%d/%s?sslmode=%s" $pg.external.user $pg.external.host (int $pg.external.port) $pg.external.database $pg.external.sslMode }}
  {{- if include "longhaul.postgresql.caEnabled" . }}
  {{- $url = printf "%s&sslrootcert=%s" $url (include "longhaul.postgresql.caFile" .) }}
  {{- end }}
  value: {{ $url | quote }}
{{- end }}
{{- end }}
- name: RESONATE_STORAGE__POSTGRES__POOL_SIZE
  value: {{ .Values.resonate.poolSize | quote }}
{{- end -}}

{{/* httpGet probe: (dict "path" "/healthz" "port" "http" "t" .Values.gateway.livenessProbe) */}}
{{- define "longhaul.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
{{- with .t }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Checks that values alone cannot express in the schema. Each fails with a
message that names the value to change.
*/}}
{{- define "longhaul.validate" -}}
{{- $v := .Values -}}
{{- $pg := $v.postgresql -}}
{{- /* What a first install must say, all reported at once. */ -}}
{{- $missing := list -}}
{{- if and (not $pg.bundled.enabled) (not $pg.external.existingSecret) -}}
{{- $missing = append $missing "postgresql.external.existingSecret is required: name a Secret with the database password (key postgresql.external.passwordKey) or full URL (key postgresql.external.urlKey), or set postgresql.bundled.enabled=true for a development database" -}}
{{- end -}}
{{- $auth := $v.auth -}}
{{- $howto := "configure gateway authentication: create a Secret with an API key file (python -m services.gateway.keys new --tenant <tenant> --file api-keys; kubectl create secret generic longhaul-api-keys --from-file=api-keys) and set auth.apiKeys.existingSecret=longhaul-api-keys, or set auth.mode=oidc with auth.oidc.issuer, auth.oidc.audience and auth.oidc.jwksUrl, or set auth.mode=none to run without authentication on purpose" -}}
{{- if and (eq $auth.mode "apiKeys") (not $auth.apiKeys.existingSecret) -}}
{{- $missing = append $missing (printf "auth.mode=apiKeys needs auth.apiKeys.existingSecret: %s" $howto) -}}
{{- end -}}
{{- if and (eq $auth.mode "oidc") (not (and $auth.oidc.issuer $auth.oidc.audience $auth.oidc.jwksUrl)) -}}
{{- $missing = append $missing (printf "auth.mode=oidc needs auth.oidc.issuer, auth.oidc.audience and auth.oidc.jwksUrl: %s" $howto) -}}
{{- end -}}
{{- if $missing -}}
{{- fail (join "\n  " $missing) -}}
{{- end -}}
{{- if not $pg.bundled.enabled -}}
{{- if and (not $pg.external.urlKey) (not $pg.external.host) -}}
{{- fail "postgresql.external.host is required (or set postgresql.external.urlKey to read the full URL from postgresql.external.existingSecret)" -}}
{{- end -}}
{{- end -}}
{{- $ca := $pg.external.caCert -}}
{{- if and $ca.secretName $ca.configMapName -}}
{{- fail "set only one of postgresql.external.caCert.secretName and postgresql.external.caCert.configMapName" -}}
{{- end -}}
{{- if and (include "longhaul.postgresql.caEnabled" .) (not $pg.external.urlKey) (not (has $pg.external.sslMode (list "verify-ca" "verify-full"))) -}}
{{- fail (printf "postgresql.external.caCert is set but postgresql.external.sslMode=%s does not verify the server certificate: set postgresql.external.sslMode=verify-full" $pg.external.sslMode) -}}
{{- end -}}
{{- if $v.resonate.auth.enabled -}}
{{- if not $v.resonate.auth.publicKeySecret.name -}}
{{- fail "resonate.auth.enabled=true needs resonate.auth.publicKeySecret.name (a Secret holding the PEM public key)" -}}
{{- end -}}
{{- $a := $v.resonate.auth -}}
{{- if and (not $a.privateKeySecret.name) (not $a.tokenSecret.name) -}}
{{- fail "resonate.auth.enabled=true needs resonate.auth.privateKeySecret.name (a Secret with the private key gateway and worker mint short-lived tokens from; recommended) or resonate.auth.tokenSecret.name (a Secret with a JWT minted elsewhere)" -}}
{{- end -}}
{{- if and $a.privateKeySecret.name $a.tokenSecret.name -}}
{{- fail "set only one of resonate.auth.privateKeySecret.name and resonate.auth.tokenSecret.name" -}}
{{- end -}}
{{- end -}}
{{- range $c := list "gateway" "worker" -}}
{{- $a := (index $v $c).autoscaling -}}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- fail (printf "%s.autoscaling.minReplicas (%d) must not exceed %s.autoscaling.maxReplicas (%d)" $c (int $a.minReplicas) $c (int $a.maxReplicas)) -}}
{{- end -}}
{{- if and $a.enabled (eq (default "cpu" $a.mode) "cpu") (not $a.targetCPUUtilizationPercentage) (not $a.targetMemoryUtilizationPercentage) -}}
{{- fail (printf "%s.autoscaling needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" $c) -}}
{{- end -}}
{{- end -}}
{{- $wa := $v.worker.autoscaling -}}
{{- if and $wa.enabled (eq (int $wa.minReplicas) 0) (not (and (eq $wa.mode "keda") $wa.keda.scaleFromZero.enabled)) -}}
{{- fail "worker.autoscaling.minReplicas 0 needs worker.autoscaling.mode=keda and worker.autoscaling.keda.scaleFromZero.enabled=true: the demand metrics come from running workers, so only the database trigger can see work while none runs" -}}
{{- end -}}
{{- $g := $v.gateway -}}
{{- if le (int $g.terminationGracePeriodSeconds) (add (int $g.gracefulTimeoutSeconds) (int $g.preStopSleepSeconds) | int) -}}
{{- fail (printf "gateway.terminationGracePeriodSeconds (%d) must exceed gateway.preStopSleepSeconds + gateway.gracefulTimeoutSeconds (%d)" (int $g.terminationGracePeriodSeconds) (add (int $g.gracefulTimeoutSeconds) (int $g.preStopSleepSeconds) | int)) -}}
{{- end -}}
{{- if ge (float64 $g.maxWaitSeconds) (float64 $g.gracefulTimeoutSeconds) -}}
{{- fail (printf "gateway.maxWaitSeconds (%v) must be below gateway.gracefulTimeoutSeconds (%v): a long poll must end before shutdown" $g.maxWaitSeconds $g.gracefulTimeoutSeconds) -}}
{{- end -}}
{{- $w := $v.worker -}}
{{- if le (float64 $w.terminationGracePeriodSeconds) (float64 $w.drainTimeoutSeconds) -}}
{{- fail (printf "worker.terminationGracePeriodSeconds (%v) must exceed worker.drainTimeoutSeconds (%v)" $w.terminationGracePeriodSeconds $w.drainTimeoutSeconds) -}}
{{- end -}}
{{- end -}}
