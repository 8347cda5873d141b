# Example company policy (hardrun [rego], package hardrun): every container names the team that
# owns it in the annotation `example.com/team`, so an alert or an incident reaches someone.
#
# Where the annotation comes from:
#   Kubernetes (containerd CRI): a pod annotation reaches the runtime only when the runtime's
#     options list it: [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hardrun]
#     pod_annotations = ["example.com/team"]
#   podman: --annotation example.com/team=payments; Docker 24+: --annotation ...
#
# Node agents in kube-system are exempt. Use it from a profile copy in /etc/hardrun/profiles:
#   [rego]
#   files = ["required-team-label.rego"]
package hardrun

import rego.v1

team_key := "example.com/team"

exempt if input.context.namespace == "kube-system"

deny contains msg if {
	not exempt
	not input.original.annotations[team_key]
	msg := sprintf("annotation %s is missing: every container names its owning team (container %s)", [team_key, input.context.container_id])
}

deny contains msg if {
	not exempt
	team := input.original.annotations[team_key]
	not regex.match(`^[a-z][a-z0-9-]{1,62}$`, team)
	msg := sprintf("annotation %s = %q is not a team name (lower-case letters, digits, dashes)", [team_key, team])
}
