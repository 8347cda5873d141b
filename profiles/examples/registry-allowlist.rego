# Example company policy (hardrun [rego], package hardrun): images only from the company's
# registries. The image is what the client told the runtime (containerd CRI's image name, the OCI
# ref annotations, or hardrun.dev/image; see docs/scanning.md). A container whose image nobody
# names is recorded (warn), not refused: a bare `runc`-style bundle has no image.
#
# (The profile setting `[scan] allowed_registries` does the same without Rego; this policy shows
# how a platform team that already writes Rego for Gatekeeper keeps one language.)
#
#   [rego]
#   files = ["registry-allowlist.rego"]
package hardrun

import rego.v1

allowed := ["registry.example.com/", "mirror.example.com/library/"]

from_allowed(image) if {
	some prefix in allowed
	startswith(image, prefix)
}

deny contains msg if {
	image := input.context.image
	not from_allowed(image)
	msg := sprintf("image %s is not from an allowed registry (%s)", [image, concat(", ", allowed)])
}

warn contains msg if {
	not input.context.image
	msg := "no image named for this container: the registry allowlist could not be applied"
}
