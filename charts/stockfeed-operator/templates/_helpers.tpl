{{/* Names, labels and values shared by the templates. */}}

{{- define "stockfeed-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: <release>-<chart>, or the release name alone when it already contains it. */}}
{{- define "stockfeed-operator.fullname" -}}
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

{{- define "stockfeed-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "stockfeed-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stockfeed-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Not app.kubernetes.io/managed-by=stockfeed-operator: that value marks the operator's own
children, which it watches and garbage-collects by label. */}}
{{- define "stockfeed-operator.labels" -}}
helm.sh/chart: {{ include "stockfeed-operator.chart" . }}
{{ include "stockfeed-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: stockfeed
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "stockfeed-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "stockfeed-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The namespace whose StockFeeds are reconciled with watch.scope=namespace. */}}
{{- define "stockfeed-operator.watchNamespace" -}}
{{- default .Release.Namespace .Values.watch.namespace -}}
{{- end -}}

{{/* image REF: repository[:tag][@digest], the tag defaulting to the chart's appVersion. */}}
{{- define "stockfeed-operator.imageRef" -}}
{{- $image := index . 0 -}}
{{- $chart := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default $chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}
