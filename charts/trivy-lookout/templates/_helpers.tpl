{{- define "trivy-lookout.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "trivy-lookout.fullname" -}}
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

{{- define "trivy-lookout.selectorLabels" -}}
app.kubernetes.io/name: {{ include "trivy-lookout.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "trivy-lookout.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "trivy-lookout.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ default .Release.Service .Values.managedBy }}
{{- end -}}

{{/* An image's registry, as Trivy-Operator's chart takes it: global.image.registry over the image's own. */}}
{{- define "trivy-lookout.registryPrefix" -}}
{{- $registry := default .registry ((.root.Values.global).image).registry -}}
{{- if $registry }}{{ $registry | trimSuffix "/" }}/{{ end -}}
{{- end -}}

{{- define "trivy-lookout.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "trivy-lookout.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
A value as its environment variable: lists and maps as JSON (the operator's parsers accept JSON in
every list and map variable), null as "", anything else as its string form.
*/}}
{{- define "trivy-lookout.envValue" -}}
{{- if or (kindIs "slice" .) (kindIs "map" .) -}}
{{- toJson . -}}
{{- else if kindIs "invalid" . -}}
{{- else if and (kindIs "float64" .) (eq (. | int64 | float64) .) -}}
{{- /* YAML numbers arrive as float64: a whole number is written without a fraction or exponent */ -}}
{{- int64 . | toString -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* The report kinds of aquasecurity.github.io (plural names), for RBAC rules. */}}
{{- define "trivy-lookout.reportResources" -}}
- vulnerabilityreports
- clustervulnerabilityreports
- exposedsecretreports
- configauditreports
- clusterconfigauditreports
- rbacassessmentreports
- clusterrbacassessmentreports
- infraassessmentreports
- clusterinfraassessmentreports
- clustercompliancereports
- sbomreports
- clustersbomreports
{{- end -}}

{{/*
Pull secrets of the node-collector pods, as a JSON list of names: nodeCollector.imagePullSecret (a
name, Trivy-Operator's form, or a list), else, when the collector runs in the operator image, the
operator's image.pullSecrets (entries {name: …} or plain names).
*/}}
{{- define "trivy-lookout.nodeCollectorPullSecrets" -}}
{{- $nc := .Values.nodeCollector | default dict -}}
{{- $names := list -}}
{{- if $nc.imagePullSecret -}}
{{- $names = ternary $nc.imagePullSecret (splitList "," (toString $nc.imagePullSecret)) (kindIs "slice" $nc.imagePullSecret) -}}
{{- else if not $nc.imageRef -}}
{{- range .Values.image.pullSecrets -}}
{{- if kindIs "map" . }}{{ $names = append $names .name }}{{ else }}{{ $names = append $names . }}{{ end -}}
{{- end -}}
{{- end -}}
{{- $clean := list -}}
{{- range $names }}{{ if trim (toString .) }}{{ $clean = append $clean (trim (toString .)) }}{{ end }}{{ end -}}
{{- toJson $clean -}}
{{- end -}}
