#!/bin/bash
# Runs two third-party conformance suites against runc (the reference for the
# `permissive` profile) and against a hardrun binary under `--profile permissive`,
# and prints the counts per runtime plus per-test result lists.
#
#   scripts/parity-suites.sh [--suite bats|rt|all|report] [--only FILE.bats,...] [--runtime runc|hardrun] HARDRUN_BINARY
#
# Suites:
#   bats  runc's own integration suite (tests/integration/*.bats) from Debian's
#         runc source package (`apt-get source runc`, the version of the installed runc).
#   rt    the OCI runtime-tools validation programs (validation/*/*.go, TAP).
#         Debian's golang-github-opencontainers-runtime-tools-dev ships only the
#         library packages (generate, validate, specerror, ...), not validation/
#         nor cmd/runtimetest, and its source package is not on the mirror: the
#         script expects runtime-tools' validation/ and cmd/runtimetest/ (and
#         tap-go, as tap-go/ or vendor/github.com/mndrix/tap-go) in $RT_SRC
#         (default $CACHE/rt-src; a runtime-tools checkout will do), builds them
#         in GOPATH mode against Debian's /usr/share/gocode, and skips the suite
#         when they are absent (see docs/parity.md).
#   report  only the counts and the diff lists of the results already there.
#
# Everything is built and written under $PARITY_CACHE (default: .parity-cache in
# the repository, git-ignored). Results: $CACHE/results/{bats,rt}-{runc,hardrun}.txt,
# one line per test: "PASS|FAIL|SKIP <file>: <test name>", and the raw TAP and
# outputs under $CACHE/results/raw/. Run as root. Not part of CI.
#
# Environment: PARITY_CACHE, RT_SRC, RUNC (default: runc on PATH), BATS_TIMEOUT (seconds
# per .bats file, default 600), CALL_TIMEOUT (seconds per runtime call in bats,
# default 60), RT_TIMEOUT (seconds per validation program, default 120).
set -u -o pipefail

SUITE=all
ONLY=""
WHICH="runc hardrun"
while [ $# -gt 0 ]; do
	case "$1" in
	--suite) SUITE=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--runtime) WHICH=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d'; exit 0 ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--suite bats|rt|all|report] [--only a.bats,...] [--runtime runc|hardrun] HARDRUN_BINARY" >&2; exit 2; }
HARDRUN=$(readlink -f "$1")
[ -x "$HARDRUN" ] || { echo "hardrun binary not executable: $1" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "must run as root" >&2; exit 2; }

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${PARITY_CACHE:-$REPO/.parity-cache}
BATS_TIMEOUT=${BATS_TIMEOUT:-600}
CALL_TIMEOUT=${CALL_TIMEOUT:-60}
RT_TIMEOUT=${RT_TIMEOUT:-120}
mkdir -p "$CACHE"/{bin,src,results/raw,tmp}
CACHE=$(readlink -f "$CACHE")
RES=$CACHE/results
export GOCACHE=$CACHE/gocache GOFLAGS= GOPROXY=off GOTOOLCHAIN=local

log() { echo "== $*" >&2; }

# ---------------------------------------------------------------- install
GO_DEPS="golang-dbus-dev golang-github-checkpoint-restore-go-criu-dev golang-github-cilium-ebpf-dev
golang-github-containerd-console-dev golang-github-coreos-go-systemd-dev golang-github-cyphar-filepath-securejoin-dev
golang-github-docker-go-units-dev golang-github-moby-sys-dev golang-github-mrunalp-fileutils-dev
golang-github-opencontainers-selinux-dev golang-github-opencontainers-specs-dev
golang-github-seccomp-libseccomp-golang-dev golang-github-sirupsen-logrus-dev golang-github-urfave-cli-dev
golang-github-vishvananda-netlink-dev golang-gocapability-dev golang-golang-x-net-dev golang-google-protobuf-dev
golang-github-opencontainers-runtime-tools-dev golang-github-google-uuid-dev golang-github-satori-go.uuid-dev
golang-github-hashicorp-go-multierror-dev golang-github-blang-semver-dev golang-github-xeipuuv-gojsonschema-dev"
install_deps() {
	local pkgs="golang-go bats jq gawk gcc libc6-dev libseccomp-dev pkg-config busybox-static runc dpkg-dev xz-utils iproute2 util-linux $GO_DEPS"
	local missing=""
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		log "installing:$missing"
		apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >"$CACHE/apt.log" 2>&1 ||
			{ echo "apt-get install failed, see $CACHE/apt.log" >&2; exit 1; }
	fi
	if [ ! -e /etc/apt/sources.list.d/src.sources ]; then
		cat >/etc/apt/sources.list.d/src.sources <<-'EOF'
			Types: deb-src
			URIs: http://deb.debian.org/debian
			Suites: bookworm bookworm-updates
			Components: main
			Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

			Types: deb-src
			URIs: http://deb.debian.org/debian-security
			Suites: bookworm-security
			Components: main
			Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		EOF
		apt-get update -q >/dev/null
	fi
}

# ---------------------------------------------------------------- rootfs
# A busybox rootfs laid out like docker-library's busybox image (the one runc's
# tests download): /bin/busybox with every applet, /etc/passwd and /etc/group.
make_busybox_rootfs() {
	local dir=$1
	rm -rf "$dir"
	mkdir -p "$dir"/{bin,sbin,etc,tmp,var/spool/mail,var/www,root,home,dev,proc,sys,usr/bin,usr/sbin,lib}
	chmod 1777 "$dir/tmp"
	cp /bin/busybox "$dir/bin/busybox"
	local a
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"
	done
	cat >"$dir/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		daemon:x:1:1:daemon:/usr/sbin:/bin/false
		bin:x:2:2:bin:/bin:/bin/false
		sys:x:3:3:sys:/dev:/bin/false
		sync:x:4:100:sync:/bin:/bin/sync
		mail:x:8:8:mail:/var/spool/mail:/bin/false
		www-data:x:33:33:www-data:/var/www:/bin/false
		operator:x:37:37:Operator:/var:/bin/false
		nobody:x:65534:65534:nobody:/home:/bin/false
	EOF
	cat >"$dir/etc/group" <<-'EOF'
		root:x:0:
		daemon:x:1:
		bin:x:2:
		sys:x:3:
		adm:x:4:
		tty:x:5:
		disk:x:6:
		wheel:x:10:root
		mail:x:12:
		audio:x:29:
		www-data:x:33:
		operator:x:37:
		staff:x:50:
		users:x:100:
		nogroup:x:65534:
	EOF
	: >"$dir/etc/hosts"
	: >"$dir/etc/resolv.conf"
}

# ---------------------------------------------------------------- wrappers
# The bats suite passes --root itself; the validation programs do not, so their
# wrappers pin a state root of their own (nothing else's containers are touched).
# Every runtime call the bats suite makes is capped at $CALL_TIMEOUT seconds:
# runc 1.1.5's `exec` into a created container spins forever on this host, and
# neither bats' per-test timeout nor timeout(1) (whose killing of the process
# group breaks terminal tests) frees the pipe its child holds. The wrapper runs
# the call in the foreground process group and kills its whole process tree
# when the time is up (thawing it if it sits in a frozen cgroup), so the call
# fails alone.
make_wrappers() {
	cat >"$CACHE/bin/capped" <<-'EOF'
		#!/bin/bash
		# capped SECONDS BINARY ARGS...: run BINARY, kill its process tree after SECONDS
		t=$1; shift
		tree() { local c; for c in $(cat /proc/$1/task/*/children 2>/dev/null); do tree "$c"; done; echo "$1"; }
		"$@" <&0 &
		pid=$!
		# a process stuck in a frozen cgroup dies only once thawed
		thaw() { local p f; for p in "$@"; do f=$(sed -n 's/^[0-9]*:freezer:\(.*\)$/\1/p' /proc/$p/cgroup 2>/dev/null)
			[ -n "$f" ] && [ "$f" != / ] && echo THAWED >"/sys/fs/cgroup/freezer$f/freezer.state" 2>/dev/null; done; }
		( trap 'kill $s 2>/dev/null; exit 0' TERM; sleep "$t" & s=$!; wait $s
		  echo "capped: $* timed out after ${t}s" >&2; ps=$(tree $pid); kill -9 $ps 2>/dev/null; thaw $ps ) &
		wd=$!
		# a forked copy of the call may outlive it, stuck in a frozen cgroup and
		# holding the caller's pipe: after SECONDS, thaw such copies (same argv)
		me="$* "
		# (detached: no inherited descriptor, such as bats' fd 3, kept open)
		( for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null
		  sleep "$t"; for p in /proc/[0-9]*; do p=${p#/proc/}
			[ "$(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null)" = "$me" ] && thaw "$p"; done ) </dev/null >/dev/null 2>&1 &
		wait $pid; rc=$?
		kill $wd 2>/dev/null
		exit $rc
	EOF
	cat >"$CACHE/bin/hardrun-permissive" <<-EOF
		#!/bin/sh
		exec "$CACHE/bin/capped" $CALL_TIMEOUT "$HARDRUN" --profile permissive "\$@"
	EOF
	cat >"$CACHE/bin/runc" <<-EOF
		#!/bin/sh
		exec "$CACHE/bin/capped" $CALL_TIMEOUT "$RUNC_BIN" "\$@"
	EOF
	cat >"$CACHE/bin/rt-hardrun" <<-EOF
		#!/bin/sh
		exec "$HARDRUN" --profile permissive --root "$CACHE/state/hardrun" "\$@"
	EOF
	cat >"$CACHE/bin/rt-runc" <<-EOF
		#!/bin/sh
		exec "$RUNC_BIN" --root "$CACHE/state/runc" "\$@"
	EOF
	chmod +x "$CACHE"/bin/capped "$CACHE"/bin/hardrun-permissive "$CACHE"/bin/runc "$CACHE"/bin/rt-hardrun "$CACHE"/bin/rt-runc
}

# ---------------------------------------------------------------- cleanup
# Deletes containers left in state roots under DIR, unmounts what is mounted
# under DIR, removes DIR and the test cgroups runc's suite creates.
cleanup_under() {
	local dir=$1 rt=$2 st ct m
	[ -d "$dir" ] || return 0
	for st in $(find "$dir" -maxdepth 4 -type d -name state 2>/dev/null); do
		for ct in $("$rt" --root "$st" list -q 2>/dev/null); do
			"$rt" --root "$st" delete -f "$ct" >/dev/null 2>&1 || true
		done
	done
	for m in $(awk -v d="$dir" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$dir" 2>/dev/null || true
	# cgroups the suites name: runc's tests, runtime-tools' /cgrouptest and
	# testdir/cgrouptest/container (rmdir removes only empty ones)
	for m in /sys/fs/cgroup/*/runc-cgroups-integration-test /sys/fs/cgroup/runc-cgroups-integration-test \
		/sys/fs/cgroup/*/cgrouptest /sys/fs/cgroup/*/testdir; do
		[ -d "$m" ] && find "$m" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	return 0
}

# ---------------------------------------------------------------- bats suite
setup_bats() {
	local src
	src=$(ls -d "$CACHE"/src/runc-*/ 2>/dev/null | head -1)
	if [ -z "$src" ]; then
		log "fetching runc's Debian source package"
		(cd "$CACHE/src" && apt-get source -q runc >"$CACHE/src/apt-source.log" 2>&1) ||
			{ echo "apt-get source runc failed, see $CACHE/src/apt-source.log" >&2; exit 1; }
		src=$(ls -d "$CACHE"/src/runc-*/ | head -1)
	fi
	RUNC_SRC=${src%/}
	# The helpers the suite runs (recvtty, sd-helper, seccompagent), in GOPATH
	# mode against Debian's Go packages.
	local gp=$CACHE/gopath h
	mkdir -p "$gp/src/github.com/opencontainers"
	ln -sfn "$RUNC_SRC" "$gp/src/github.com/opencontainers/runc"
	for h in recvtty sd-helper seccompagent; do
		[ -x "$RUNC_SRC/contrib/cmd/$h/$h" ] && continue
		log "building $h"
		# seccompagent needs libseccomp (cgo, build tag seccomp), as runc itself
		(cd "$gp/src/github.com/opencontainers/runc" &&
			GO111MODULE=off GOPATH="$gp:/usr/share/gocode" nice go build -p 1 -tags seccomp -o "contrib/cmd/$h/$h" "./contrib/cmd/$h") ||
			log "could not build $h: tests that need it fail or skip"
	done
	# Images: get-images.sh downloads busybox and Debian tarballs unless they are
	# in testdata/; put local ones there. The "debian" image is the busybox rootfs
	# plus the host's static ldconfig (the only test using it, hooks.bats, runs ldconfig).
	local td=$RUNC_SRC/tests/integration/testdata
	if [ ! -s "$td/busybox-amd64.tar.xz" ] || [ ! -s "$td/debian-amd64.tar.xz" ]; then
		log "building busybox rootfs tarballs"
		make_busybox_rootfs "$CACHE/tmp/bbroot"
		tar -C "$CACHE/tmp/bbroot" -cJf "$td/busybox-amd64.tar.xz" .
		cp /sbin/ldconfig "$CACHE/tmp/bbroot/sbin/ldconfig"
		: >"$CACHE/tmp/bbroot/etc/ld.so.conf"
		tar -C "$CACHE/tmp/bbroot" -cJf "$td/debian-amd64.tar.xz" .
		rm -rf "$CACHE/tmp/bbroot"
	fi
}

# bats --tap output -> "PASS|FAIL|SKIP file: name" lines
tap_to_results() {
	local file=$1
	sed -n -E \
		-e 's/^ok [0-9]+ (.*) # skip.*$/SKIP '"$file"': \1/p' \
		-e '/# skip/!s/^ok [0-9]+ (.*)$/PASS '"$file"': \1/p' \
		-e 's/^not ok [0-9]+ (.*)$/FAIL '"$file"': \1/p'
}

run_bats() {
	local name=$1 rt=$2 f base out
	local results=$RES/bats-$name.txt
	if [ -n "$ONLY" ] && [ -f "$results" ]; then
		# a partial run replaces the lines of the files it runs
		grep -v -E "^(PASS|FAIL|SKIP) ($(echo "$ONLY" | sed 's/[.]/[.]/g; s/,/|/g')):" "$results" >"$results.tmp"
		mv "$results.tmp" "$results"
	else
		: >"$results"
	fi
	mkdir -p "$RES/raw/bats-$name"
	cd "$RUNC_SRC/tests/integration" || exit 1
	for f in *.bats; do
		base=${f%.bats}
		if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$f,"* ]]; then continue; fi
		out=$RES/raw/bats-$name/$base.tap
		local tmp=$CACHE/tmp/bats-$name-$base
		mkdir -p "$tmp"
		log "bats $name $f"
		# The suite expects a controlling terminal (specs with terminal: true and
		# no --console-socket use it, as in upstream CI's `docker run -t`): script(1)
		# gives it one. Everything must stay in the terminal's foreground process
		# group (timeout --foreground), or runc stops or spins on SIGTTOU.
		TMPDIR=$tmp RUNC=$rt script -q -e -c \
			"timeout --foreground -k 10 $BATS_TIMEOUT bats --tap '$f' >'$out' 2>&1" /dev/null >/dev/null 2>&1 </dev/null
		local rc=$?
		[ $rc -eq 124 ] || [ $rc -eq 137 ] && echo "# TIMEOUT after ${BATS_TIMEOUT}s" >>"$out"
		tap_to_results "$f" <"$out" >>"$results"
		# tests the timeout cut short, as failures
		local planned done_n
		planned=$(sed -n -E 's/^1\.\.([0-9]+)$/\1/p' "$out" | head -1)
		done_n=$(grep -cE '^(not )?ok [0-9]+' "$out")
		if [ -n "$planned" ] && [ "$done_n" -lt "$planned" ]; then
			echo "FAIL $f: ($((planned - done_n)) tests not run: file timed out or aborted)" >>"$results"
		fi
		cleanup_under "$tmp" "$rt"
	done
	cd "$REPO" || exit 1
}

# ---------------------------------------------------------------- runtime-tools suite
RT_IMPORT=github.com/opencontainers/runtime-tools
setup_rt() {
	local rsrc=${RT_SRC:-$CACHE/rt-src} tap
	if [ ! -d "$rsrc/validation" ] || [ ! -d "$rsrc/cmd/runtimetest" ]; then
		log "runtime-tools validation sources not found in $rsrc: skipping the rt suite (see docs/parity.md)"
		return 1
	fi
	# tap-go: beside the sources, or vendored in a runtime-tools checkout
	tap=$rsrc/tap-go
	[ -d "$tap" ] || tap=$rsrc/vendor/github.com/mndrix/tap-go
	# GOPATH: the validation sources over Debian's runtime-tools library packages.
	local gp=$CACHE/rt-gopath d
	rm -rf "$gp" && mkdir -p "$gp/src/$RT_IMPORT" "$gp/src/github.com/mndrix"
	for d in /usr/share/gocode/src/$RT_IMPORT/*; do
		ln -s "$d" "$gp/src/$RT_IMPORT/"
	done
	ln -s "$rsrc/validation" "$gp/src/$RT_IMPORT/validation"
	mkdir -p "$gp/src/$RT_IMPORT/cmd"
	ln -s "$rsrc/cmd/runtimetest" "$gp/src/$RT_IMPORT/cmd/runtimetest"
	ln -s "$tap" "$gp/src/github.com/mndrix/tap-go"
	RT_BUILD=$CACHE/rt-build
	mkdir -p "$RT_BUILD"
	export GO111MODULE=off GOPATH="$gp:/usr/share/gocode"
	if [ ! -x "$RT_BUILD/runtimetest" ]; then
		log "building runtimetest"
		(cd "$gp/src/$RT_IMPORT" && CGO_ENABLED=0 nice go build -p 1 -o "$RT_BUILD/runtimetest" ./cmd/runtimetest) || return 1
	fi
	for d in "$rsrc"/validation/*/; do
		d=$(basename "$d")
		[ "$d" = util ] && continue
		[ -x "$RT_BUILD/$d.t" ] && continue
		log "building validation/$d"
		(cd "$gp/src/$RT_IMPORT" && nice go build -p 1 -o "$RT_BUILD/$d.t" "./validation/$d") ||
			log "could not build validation/$d"
	done
	unset GO111MODULE GOPATH
	if [ ! -s "$RT_BUILD/rootfs-amd64.tar.gz" ]; then
		make_busybox_rootfs "$CACHE/tmp/rtroot"
		tar -C "$CACHE/tmp/rtroot" -czf "$RT_BUILD/rootfs-amd64.tar.gz" .
		rm -rf "$CACHE/tmp/rtroot"
	fi
}

# TAP of one validation program -> result lines, keyed within the program
# by description (a repeated description gets " [N]", N its occurrence; a
# TODO test counts as skipped, as prove counts it). Some programs
# emit no test line at all: the *_fail ones (exit 0 when the runtime refused
# the config, Fatal otherwise) and the hook ones (a YAML "error" block when
# the check failed); such a program counts as one PASS when it exited 0
# without a YAML block, else one FAIL.
rt_tap_to_results() {
	local t=$1 out=$2 rc=$3
	local n
	n=$(grep -cE '^(not )?ok' "$out")
	grep -E '^(not )?ok' "$out" | awk -v t="$t" '{
		line = $0; st = "PASS"
		if (line ~ /^not ok/) { st = "FAIL"; sub(/^not ok [0-9]* ?-? ?/, "", line) }
		else { sub(/^ok [0-9]* ?-? ?/, "", line) }
		if (st == "PASS" && line ~ /^# (SKIP|skip)/) { st = "SKIP"; sub(/^# (SKIP|skip) ?/, "", line) }
		if (line ~ /^# TODO/) { st = "SKIP"; sub(/^# TODO ?/, "TODO ", line) }
		k = ++seen[line]
		printf "%s %s: %s%s\n", st, t, line, (k > 1 ? " [" k "]" : "")
	}'
	if [ "$n" -eq 0 ]; then
		if [ "$rc" -eq 0 ] && ! grep -q '^  ---' "$out"; then
			echo "PASS $t: (program result)"
		else
			echo "FAIL $t: (program result)"
		fi
	fi
}

run_rt() {
	local name=$1 rt=$2 t
	local results=$RES/rt-$name.txt
	: >"$results"
	mkdir -p "$RES/raw/rt-$name"
	cd "$RT_BUILD" || return
	for t in *.t; do
		t=${t%.t}
		local out=$RES/raw/rt-$name/$t.tap tmp=$CACHE/tmp/rt-$name-$t
		mkdir -p "$tmp"
		log "rt $name $t"
		TMPDIR=$tmp RUNTIME=$rt timeout -k 10 "$RT_TIMEOUT" "./$t.t" >"$out" 2>&1
		local rc=$?
		rt_tap_to_results "$t" "$out" "$rc" >>"$results"
		# validation programs use the runtime's default --root
		cleanup_rt_containers "$rt"
		cleanup_under "$tmp" "$rt"
	done
	cd "$REPO" || exit 1
}

cleanup_rt_containers() {
	local rt=$1 ct
	for ct in $("$rt" list -q 2>/dev/null); do
		"$rt" delete -f "$ct" >/dev/null 2>&1 || true
	done
	# bundles are made in $TMPDIR (ocitest*), removed with it
}

# ---------------------------------------------------------------- summary
# For every test whose outcome differs, one line of why, taken from the raw
# output of the runtime it failed with: the first error-looking line of the
# bats test's output, or of the YAML/stderr of the validation program.
reasons() {
	SUITE_NAME=$1 RES=$RES python3 - <<-'PY'
		import os, re, collections
		res, suite = os.environ["RES"], os.environ["SUITE_NAME"]
		def blocks(path, kind):
		    """test key -> output lines that follow its result line"""
		    out, cur, seen = {}, None, collections.Counter()
		    try:
		        lines = open(path, errors="replace").read().splitlines()
		    except OSError:
		        return out
		    for ln in lines:
		        m = re.match(r"^(not )?ok \d* ?-? ?(.*)$", ln)
		        if m:
		            name = m.group(2)
		            if kind == "bats":
		                name = re.sub(r" # skip.*$", "", name)
		            else:
		                name = re.sub(r"^# (SKIP|skip|TODO) ?", "", name)
		                seen[name] += 1
		                if seen[name] > 1:
		                    name = "%s [%d]" % (name, seen[name])
		            cur = name
		            out[cur] = []
		        elif cur is not None:
		            out[cur].append(ln)
		    out[None] = lines
		    return out
		pat = re.compile(r"level=error|error|Error|ERROR|failed|denied|invalid|not supported|unknown|panic|timed out", re.I)
		skip = re.compile(r"^#? *\(in test file|^#? *\(from function|^# *`|reference|^\s*[\[\]{},]*\s*$")
		def reason(lines, first=False):
		    for ln in lines:
		        if '"stderr":' in ln:
		            return ln.strip()[:220]
		    for ln in lines:
		        t = ln.lstrip("# ").strip()
		        if pat.search(t) and not skip.search(ln):
		            return t[:220]
		    for ln in lines:
		        if ln.startswith("#   `"):
		            return ln.lstrip("# ").strip()[:220]
		    for ln in lines if first else []:
		        t = ln.lstrip("# ").strip()
		        if t and not skip.search(ln) and t not in ("---", "..."):
		            return t[:220]
		    return ""
		for ln in open(os.path.join(res, suite + "-diff.txt")):
		    m = re.match(r"runc (\w+) / hardrun (\w+): ([^:]+): (.*)$", ln.rstrip("\n"))
		    if not m:
		        continue
		    rs, hs, f, name = m.groups()
		    failed = "hardrun" if hs in ("FAIL", "ABSENT") else "runc" if rs in ("FAIL", "ABSENT") else "hardrun" if hs == "SKIP" else "runc"
		    base = f[:-5] if f.endswith(".bats") else f
		    raw = os.path.join(res, "raw", "%s-%s" % (suite, failed), base + ".tap")
		    b = blocks(raw, suite)
		    why = reason(b.get(name, []), True) or reason(b.get(None, []))
		    print("runc %s / hardrun %s: %s: %s -- %s: %s" % (rs, hs, f, name, failed, why))
	PY
}

summary() {
	local suite=$1 name f
	for name in runc hardrun; do
		f=$RES/$suite-$name.txt
		[ -f "$f" ] || continue
		printf '%s %s: %d passed, %d failed, %d skipped\n' "$suite" "$name" \
			"$(grep -c '^PASS' "$f")" "$(grep -c '^FAIL' "$f")" "$(grep -c '^SKIP' "$f")"
	done
	if [ -f "$RES/$suite-runc.txt" ] && [ -f "$RES/$suite-hardrun.txt" ]; then
		# tests whose outcome differs
		# tests whose outcome differs; ABSENT: the test did not run with that
		# runtime (its program or file stopped earlier, or took another path)
		LC_ALL=C join -t$'\t' -a1 -a2 -e ABSENT -o 0,1.2,2.2 \
			<(sed -E 's/^(PASS|FAIL|SKIP) (.*)$/\2\t\1/' "$RES/$suite-runc.txt" | LC_ALL=C sort -t$'\t' -k1,1) \
			<(sed -E 's/^(PASS|FAIL|SKIP) (.*)$/\2\t\1/' "$RES/$suite-hardrun.txt" | LC_ALL=C sort -t$'\t' -k1,1) |
			awk -F'\t' '$2 != $3 { print "runc " $2 " / hardrun " $3 ": " $1 }' >"$RES/$suite-diff.txt"
		reasons "$suite" >"$RES/$suite-diff-reasons.txt"
		echo "$suite: $(grep -c 'runc PASS / hardrun FAIL' "$RES/$suite-diff.txt") pass with runc and fail with hardrun," \
			"$(grep -c 'runc FAIL / hardrun PASS' "$RES/$suite-diff.txt") the reverse," \
			"$(grep -c 'runc PASS / hardrun ABSENT' "$RES/$suite-diff.txt") pass with runc and do not run with hardrun," \
			"$(grep -c 'runc ABSENT / hardrun PASS' "$RES/$suite-diff.txt") the reverse;" \
			"list in $RES/$suite-diff-reasons.txt"
	fi
}

if [ "$SUITE" = report ]; then
	for s in bats rt; do summary "$s"; done
	exit 0
fi
START=$(date +%s)
install_deps
RUNC_BIN=$(readlink -f "${RUNC:-$(command -v runc)}")
make_wrappers
if [ "$SUITE" = all ] || [ "$SUITE" = bats ]; then
	setup_bats
	[[ " $WHICH " == *" runc "* ]] && run_bats runc "$CACHE/bin/runc"
	[[ " $WHICH " == *" hardrun "* ]] && run_bats hardrun "$CACHE/bin/hardrun-permissive"
fi
if [ "$SUITE" = all ] || [ "$SUITE" = rt ]; then
	if setup_rt; then
		[[ " $WHICH " == *" runc "* ]] && run_rt runc "$CACHE/bin/rt-runc"
		[[ " $WHICH " == *" hardrun "* ]] && run_rt hardrun "$CACHE/bin/rt-hardrun"
	fi
fi
echo "---- $(date -u +%FT%TZ), $(($(date +%s) - START))s; runc: $("$RUNC_BIN" --version | head -1); hardrun: $("$HARDRUN" --version | head -1)"
for s in bats rt; do
	if [ "$SUITE" = all ] || [ "$SUITE" = "$s" ]; then summary "$s"; fi
done
