{{- define "frisk.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "frisk.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "frisk.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "frisk.image" -}}
{{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end -}}

{{- define "frisk.claim" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-home" (include "frisk.fullname" .)) -}}
{{- end -}}

{{/* The environment every Frisk container gets: settings, and the ledger URL as a file. */}}
{{- define "frisk.env" -}}
- name: FRISK_HOME
  value: /var/lib/frisk
- name: FRISK_DATABASE_URL_FILE
  value: /etc/frisk/secrets/database-url
- name: MPLCONFIGDIR
  value: /tmp/matplotlib
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "frisk.volumeMounts" -}}
- name: home
  mountPath: /var/lib/frisk
- name: secrets
  mountPath: /etc/frisk/secrets
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "frisk.volumes" -}}
- name: home
  {{- if .Values.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ include "frisk.claim" . }}
  {{- else }}
  emptyDir: {}
  {{- end }}
- name: secrets
  secret:
    secretName: {{ required "existingSecret: name a Secret with database-url and metrics-key" .Values.existingSecret }}
    defaultMode: 0440
- name: tmp
  emptyDir: {}
{{- end -}}
