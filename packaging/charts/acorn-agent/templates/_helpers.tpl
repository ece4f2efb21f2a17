{{/*
Names, labels and the RBAC rule sets of the agent. The appliance's plain-manifest renderer
(appliance/src/control/agent_install.rs) produces the same objects; a test compares the two.
*/}}

{{- define "acorn-agent.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object names: the release name when it already says acorn-agent, else RELEASE-acorn-agent. */}}
{{- define "acorn-agent.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Derived names, shortened so that the suffix always survives the 63-character limit. */}}
{{- define "acorn-agent.suffixed" -}}
{{- $base := include "acorn-agent.fullname" .root -}}
{{- printf "%s-%s" ($base | trunc (int (sub 62 (len .suffix))) | trimSuffix "-") .suffix -}}
{{- end -}}

{{- define "acorn-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "acorn-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: acorn
{{- end -}}

{{- define "acorn-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "acorn-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "acorn-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "acorn-agent.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* "true" when a Lease elects the connecting replica: asked for, or more than one replica. */}}
{{- define "acorn-agent.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) -}}true{{- else -}}false{{- end -}}
{{- end -}}

{{- define "acorn-agent.keySecretName" -}}
{{- if .Values.existingSecret -}}
{{- .Values.existingSecret -}}
{{- else -}}
{{- include "acorn-agent.suffixed" (dict "root" . "suffix" "key") -}}
{{- end -}}
{{- end -}}

{{- define "acorn-agent.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{/* The namespaces the agent watches: namespaces.include, or the RBAC namespaces with scope
namespaces (the agent could not list anything else). */}}
{{- define "acorn-agent.include" -}}
{{- if .Values.namespaces.include -}}
{{- join "," .Values.namespaces.include -}}
{{- else if eq .Values.rbac.scope "namespaces" -}}
{{- join "," .Values.rbac.namespaces -}}
{{- end -}}
{{- end -}}

{{/*
Read rules. Argument: dict "cluster" (bool: ClusterRole, else a Role in one namespace) and
"logs" (bool: pods/log). Secrets are only ever listed and watched for their metadata (the agent
drops their data), but the API has no metadata-only verb, so they need the same verbs.
*/}}
{{- define "acorn-agent.readRules" -}}
- apiGroups: [""]
  resources:
    - configmaps
    - endpoints
    - events
    {{- if .cluster }}
    - namespaces
    - nodes
    {{- end }}
    - persistentvolumeclaims
    {{- if .cluster }}
    - persistentvolumes
    {{- end }}
    - pods
    - secrets
    - services
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [controllerrevisions, daemonsets, deployments, replicasets, statefulsets]
  verbs: [get, list, watch]
- apiGroups: [batch]
  resources: [cronjobs, jobs]
  verbs: [get, list, watch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [get, list, watch]
{{- if .cluster }}
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get, list, watch]
- apiGroups: [metrics.k8s.io]
  resources: [nodes, pods]
  verbs: [get, list]
{{- else }}
- apiGroups: [metrics.k8s.io]
  resources: [pods]
  verbs: [get, list]
{{- end }}
{{- if .logs }}
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
{{- end }}
{{- end -}}

{{/* Write rules, only rendered with write.enabled. Argument: dict "cluster" (bool). */}}
{{- define "acorn-agent.writeRules" -}}
- apiGroups: [apps]
  resources: [daemonsets, deployments, statefulsets]
  verbs: [patch]
- apiGroups: [apps]
  resources: [deployments/scale, replicasets/scale, statefulsets/scale]
  verbs: [get, patch, update]
- apiGroups: [""]
  resources: [pods]
  verbs: [delete]
{{- if .cluster }}
- apiGroups: [""]
  resources: [nodes]
  verbs: [patch]
{{- end }}
{{- end -}}
