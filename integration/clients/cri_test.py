#!/usr/bin/env python3
"""Kubernetes CRI v1 end-to-end check of an OCI runtime behind containerd's CRI plugin.

crictl is not packaged for Debian 12, so this small gRPC client drives the CRI the way the
kubelet does. It is run by run.sh (section "cri") with the python of a private venv that has
grpcio + grpcio-tools, and with the Python modules generated from the CRI v1 proto of the
k8s-cri crate (api_pb2.py, api_pb2_grpc.py in --gen-dir).

Output: one line per check, "PASS <name>" or "FAIL <name><TAB><detail>", plus "INFO ..." lines.
run.sh counts the PASS/FAIL lines. Exit status 0 only if every check passed.
Everything the test creates is stopped and removed again, also after a failure.
"""
import argparse
import os
import sys
import time
import uuid

ap = argparse.ArgumentParser()
ap.add_argument('--socket', required=True, help='containerd gRPC socket (CRI plugin)')
ap.add_argument('--handler', required=True, help='CRI runtime handler (containerd runtime name)')
ap.add_argument('--image', required=True, help='container image (already in namespace k8s.io)')
ap.add_argument('--sandbox-image', required=True, help='sandbox ("pause") image of the CRI config')
ap.add_argument('--gen-dir', required=True, help='directory with api_pb2.py / api_pb2_grpc.py')
ap.add_argument('--log-dir', required=True, help='pod log directory (created by containerd)')
ap.add_argument('--cgroup-parent', default='/hardrun-itest-cri')
ap.add_argument('--rpc-timeout', type=float, default=60.0)
ap.add_argument('--restricted', action='store_true',
                help="the handler runs hardrun's restricted profile: check what it promises instead")
args = ap.parse_args()

sys.path.insert(0, args.gen_dir)
import grpc  # noqa: E402
import api_pb2 as pb  # noqa: E402
import api_pb2_grpc as pbg  # noqa: E402

channel = grpc.insecure_channel('unix://' + os.path.abspath(args.socket))
rt = pbg.RuntimeServiceStub(channel)
images = pbg.ImageServiceStub(channel)
T = args.rpc_timeout
failed = 0


def result(ok, name, detail=''):
    global failed
    if ok:
        print(f'PASS {name}', flush=True)
    else:
        failed += 1
        print(f'FAIL {name}\t' + ' '.join(str(detail).split()), flush=True)
    return ok


def call(name, fn, quiet=False):
    """Run one RPC; a gRPC error is a FAIL (returns None)."""
    t0 = time.time()
    try:
        r = fn()
    except grpc.RpcError as e:
        result(False, name, f'{e.code()}: {e.details()}')
        return None
    if not quiet:
        result(True, f'{name} ({(time.time() - t0) * 1000:.0f} ms)')
    return r


def state_name(enum, v):
    try:
        return enum.Name(v)
    except ValueError:
        return str(v)


def exec_sync(cid, cmd, want_rc, want_out=None, want_err=None, exact=False, label=None):
    name = label or f'ExecSync {cmd!r}'
    r = call(name, lambda: rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=cmd, timeout=20), timeout=T), quiet=True)
    if r is None:
        return None
    out, err = r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace')
    problems = []
    if r.exit_code != want_rc:
        problems.append(f'exit code {r.exit_code}, want {want_rc}')
    if want_out is not None and ((out != want_out) if exact else (want_out not in out)):
        problems.append(f'stdout {out!r}, want {"exactly " if exact else "containing "}{want_out!r}')
    if want_err is not None and want_err not in err:
        problems.append(f'stderr {err!r}, want containing {want_err!r}')
    result(not problems, name, '; '.join(problems) + (f' (stdout={out!r} stderr={err!r})' if problems else ''))
    return r


def container_status(cid):
    r = call('ContainerStatus', lambda: rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid), timeout=T), quiet=True)
    return r.status if r else None


def wait_state(cid, want, secs=15):
    st = None
    end = time.time() + secs
    while time.time() < end:
        st = container_status(cid)
        if st is None or st.state == want:
            return st
        time.sleep(0.2)
    return st


# TERM handler + "wait": a PID 1 shell exits 0 promptly on SIGTERM (busybox sleep as PID 1 would
# ignore it). StopContainer's exit code therefore tells whether SIGTERM reached the container.
MAIN_CMD = ['/bin/sh', '-c', 'echo started-$(id -u); trap "exit 0" TERM; sleep 300 & wait']

uid = uuid.uuid4().hex[:8]
sandbox_id = None
containers = []
try:
    v = call('Version', lambda: rt.Version(pb.VersionRequest(version='v1'), timeout=T), quiet=True)
    if v is None:
        sys.exit(1)
    result(v.runtime_api_version == 'v1', f'Version ({v.runtime_name} {v.runtime_version}, CRI {v.runtime_api_version})',
           f'runtime_api_version {v.runtime_api_version!r}')

    # images imported with "ctr -n k8s.io image import" reach the CRI plugin asynchronously
    for ref in (args.image, args.sandbox_image):
        found, end = False, time.time() + 15
        while not found and time.time() < end:
            try:
                found = bool(images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=ref)), timeout=T).image.id)
            except grpc.RpcError as e:
                print(f'INFO ImageStatus {ref}: {e.code()} {e.details()}')
            if not found:
                time.sleep(0.3)
        result(found, f'ImageStatus: {ref} known to the CRI plugin', 'not found within 15 s')

    log_dir = os.path.join(os.path.abspath(args.log_dir), uid)
    pod_cfg = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name='itest-' + uid, namespace='default', uid=uid, attempt=0),
        hostname='',  # host UTS namespace: a hostname cannot be set without a private UTS ns
        log_directory=log_dir,
        linux=pb.LinuxPodSandboxConfig(
            cgroup_parent=args.cgroup_parent,
            security_context=pb.LinuxSandboxSecurityContext(
                # host network; the pod's own PID namespace (what the kubelet sends for
                # shareProcessNamespace: true), joined by container c3 below
                namespace_options=pb.NamespaceOption(network=pb.NODE, pid=pb.POD, ipc=pb.POD))))
    if args.restricted:
        # hostNetwork reaches the runtime as an omitted network namespace: restricted authorizes
        # no host namespace for pod default/itest-*, so the sandbox is refused, and the refusal
        # names the namespace and the pod (not "Running" with only lo, as before)
        what = f'RunPodSandbox (handler {args.handler}, host network) is refused'
        try:
            r = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=pod_cfg, runtime_handler=args.handler), timeout=T)
            result(False, what, f'sandbox {r.pod_sandbox_id[:12]} started')
            rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=r.pod_sandbox_id), timeout=T)
            rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=r.pod_sandbox_id), timeout=T)
        except grpc.RpcError as e:
            d = e.details() or ''
            want = ['network namespace omitted', f'default/itest-{uid}', 'hostNetwork', 'restricted']
            missing = [w for w in want if w not in d]
            result(not missing, what + ', naming the namespace, the pod and the profile',
                   f'missing {missing!r} in {d!r}')
        lp = call('ListPodSandbox', lambda: rt.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=T), quiet=True)
        if lp is not None:
            ready = [p.id[:12] for p in lp.items
                     if p.metadata.name == 'itest-' + uid and p.state == pb.SANDBOX_READY]
            result(not ready, 'the refused host-network sandbox is not ready', f'ready: {ready!r}')
        sandbox_id = None
    else:
        r = call(f'RunPodSandbox (handler {args.handler}, host network)',
                 lambda: rt.RunPodSandbox(pb.RunPodSandboxRequest(config=pod_cfg, runtime_handler=args.handler), timeout=T))
        if r is None:
            sys.exit(1)
        sandbox_id = r.pod_sandbox_id

    ps = sandbox_id and call('PodSandboxStatus', lambda: rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id), timeout=T), quiet=True)
    if ps:
        result(ps.status.state == pb.SANDBOX_READY, 'PodSandboxStatus is SANDBOX_READY',
               state_name(pb.PodSandboxState, ps.status.state))

    def create(name, user=None, pid=pb.CONTAINER, network=pb.NODE):
        # pid CONTAINER: a new PID namespace (the kubelet's default); POD: join the sandbox's.
        # (The zero value of NamespaceMode is POD, so a client must set CONTAINER explicitly.)
        sc = pb.LinuxContainerSecurityContext(
            namespace_options=pb.NamespaceOption(network=network, pid=pid, ipc=pb.POD))
        if user is not None:
            sc.run_as_user.value = user
        cfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name, attempt=0),
                                 image=pb.ImageSpec(image=args.image), command=MAIN_CMD,
                                 log_path=f'{name}.log', linux=pb.LinuxContainerConfig(security_context=sc))
        what = [f'run_as_user {user}'] if user is not None else []
        what += ['PID namespace shared with the pod'] if pid == pb.POD else []
        cr = call(f'CreateContainer {name}' + (f' ({", ".join(what)})' if what else ''),
                  lambda: rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=cfg,
                                                                       sandbox_config=pod_cfg), timeout=T))
        if cr is None:
            return None
        containers.append(cr.container_id)
        if call(f'StartContainer {name}', lambda: rt.StartContainer(pb.StartContainerRequest(container_id=cr.container_id), timeout=T)) is None:
            return None
        st = wait_state(cr.container_id, pb.CONTAINER_RUNNING, 5)
        result(st is not None and st.state == pb.CONTAINER_RUNNING, f'ContainerStatus {name} is CONTAINER_RUNNING',
               st and f'{state_name(pb.ContainerState, st.state)} exit={st.exit_code} reason={st.reason!r} msg={st.message!r}')
        return cr.container_id

    def update_memory(cid, name, mib=64):
        # resources update -> runtime "update" -> the memory cgroup as seen inside the container
        lim = mib * 1024 * 1024
        if call(f'UpdateContainerResources {name} memory {mib} MiB', lambda: rt.UpdateContainerResources(
                pb.UpdateContainerResourcesRequest(container_id=cid, linux=pb.LinuxContainerResources(
                    memory_limit_in_bytes=lim)), timeout=T)) is not None:
            exec_sync(cid, ['cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes'], 0, f'{lim}\n', exact=True,
                      label=f'memory.limit_in_bytes inside {name} is {lim}')

    if args.restricted:
        # a pod with its own network namespace, made and pinned by containerd for the CNI (run.sh
        # configures a plugin that adds an eth0 10.237.0.2): owned by the host's user
        # namespace, entered before the sandbox's own user namespace; the containers join it
        pod_cfg = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name='itest-cni-' + uid, namespace='default', uid=uid + '-cni', attempt=0),
            hostname='itest-cni', log_directory=log_dir,
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=args.cgroup_parent,
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.POD, ipc=pb.POD))))
        r = call(f'RunPodSandbox (handler {args.handler}, CNI network namespace)',
                 lambda: rt.RunPodSandbox(pb.RunPodSandboxRequest(config=pod_cfg, runtime_handler=args.handler), timeout=T))
        if r is not None:
            sandbox_id = r.pod_sandbox_id
            r2 = create('r2', network=pb.POD)
            if r2:
                exec_sync(r2, ['id', '-u'], 0, '65534\n', exact=True, label='CNI pod: ExecSync id -u is 65534')
                r = exec_sync(r2, ['cat', '/proc/self/uid_map'], 0, label='CNI pod: ExecSync reads its uid_map')
                if r is not None:
                    f = r.stdout.decode(errors='replace').split()
                    result(len(f) == 3 and f[0] == '0' and f[1] != '0' and int(f[1]) >= 100000,
                           'CNI pod: ExecSync runs in a user namespace mapped to a leased range',
                           f'uid_map {f!r}')
                exec_sync(r2, ['/bin/sh', '-c', 'ip -o -4 addr show eth0 | grep -q 10.237.0.2/24 && hostname'],
                          0, 'itest-cni\n', exact=True, label="CNI pod: the CNI's network namespace (eth0 10.237.0.2) and the pod's hostname")
                exec_sync(r2, ['/bin/sh', '-c', 'cat /etc/hosts /etc/resolv.conf /etc/hostname > /dev/null && touch /sys/x 2>&1 | grep -q Read-only && echo ok'],
                          0, 'ok\n', exact=True, label="CNI pod: bind mounts readable, /sys read-only")
                # restricted: the CRI's bind mounts readable (above), tmpfs scratch space and the
                # pod's /dev/shm writable, the root filesystem read-only, through ExecSync
                exec_sync(r2, ['/bin/sh', '-c', 'echo shm > /dev/shm/t && cat /dev/shm/t && echo tmp > /tmp/t && cat /tmp/t'],
                          0, 'shm\ntmp\n', exact=True, label='CNI pod: /dev/shm and /tmp are writable')
                exec_sync(r2, ['/bin/sh', '-c', 'touch /x'], 1, label='CNI pod: the root filesystem is read-only')
                if call('StopContainer r2', lambda: rt.StopContainer(pb.StopContainerRequest(container_id=r2, timeout=10), timeout=T)) is not None:
                    if call('RemoveContainer r2', lambda: rt.RemoveContainer(pb.RemoveContainerRequest(container_id=r2), timeout=T)) is not None:
                        containers.remove(r2)
            if call('StopPodSandbox (CNI pod)', lambda: rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=T)) is not None:
                if call('RemovePodSandbox (CNI pod)', lambda: rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=T)) is not None:
                    sandbox_id = None
        sys.exit(1 if failed else 0)

    c1 = create('c1')
    if c1:
        exec_sync(c1, ['id'], 0, 'uid=0(root) gid=0(root)', label='ExecSync id (root)')
        exec_sync(c1, ['echo', 'cri-exec-ok'], 0, 'cri-exec-ok\n', exact=True, label='ExecSync echo (exact stdout)')
        exec_sync(c1, ['/bin/sh', '-c', 'echo to-stderr >&2; exit 5'], 5, want_err='to-stderr',
                  label='ExecSync exit code 5 + stderr')
        # container log (written by the shim from the container's stdout)
        logf, text = os.path.join(log_dir, 'c1.log'), ''
        for _ in range(50):
            try:
                text = open(logf).read()
            except OSError:
                text = ''
            if 'started-0' in text:
                break
            time.sleep(0.1)
        result('started-0' in text, 'container log has the stdout line', f'{logf}: {text[-300:]!r}')
        update_memory(c1, 'c1')

    c2 = create('c2', user=1000)
    if c2:
        exec_sync(c2, ['id'], 0, 'uid=1000(app)', label='ExecSync id in run_as_user container')

    c3 = create('c3', pid=pb.POD)
    if c3:
        exec_sync(c3, ['ps', '-o', 'pid,args'], 0, 'sleep 2147483',
                  label="ExecSync ps in c3 shows the sandbox's process (shared PID namespace)")
        update_memory(c3, 'c3', 48)

    for name, cid in (('c1', c1), ('c2', c2), ('c3', c3)):
        if not cid:
            continue
        t0 = time.time()
        if call(f'StopContainer {name} (timeout 10 s)', lambda: rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=10), timeout=T)) is None:
            continue
        took = time.time() - t0
        st = wait_state(cid, pb.CONTAINER_EXITED, 5)
        result(st is not None and st.state == pb.CONTAINER_EXITED and st.exit_code == 0 and took < 8,
               f'{name} exited with code 0 on SIGTERM (CONTAINER_EXITED)',
               st and f'{state_name(pb.ContainerState, st.state)} exit={st.exit_code} reason={st.reason!r} after {took:.1f} s')
        if call(f'RemoveContainer {name}', lambda: rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid), timeout=T)) is not None:
            containers.remove(cid)
            lc = call('ListContainers', lambda: rt.ListContainers(pb.ListContainersRequest(), timeout=T), quiet=True)
            if lc is not None:
                result(cid not in [c.id for c in lc.containers], f'{name} gone from ListContainers')

    if call('StopPodSandbox', lambda: rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=T)) is not None:
        ps = call('PodSandboxStatus', lambda: rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id), timeout=T), quiet=True)
        if ps is not None:
            result(ps.status.state == pb.SANDBOX_NOTREADY, 'PodSandboxStatus is SANDBOX_NOTREADY after stop',
                   state_name(pb.PodSandboxState, ps.status.state))
    if call('RemovePodSandbox', lambda: rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=T)) is not None:
        removed = sandbox_id
        sandbox_id = None
        lp = call('ListPodSandbox', lambda: rt.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=T), quiet=True)
        if lp is not None:
            result(removed not in [p.id for p in lp.items], 'sandbox gone from ListPodSandbox')
finally:
    # best-effort cleanup after a failure (not counted)
    for cid in containers:
        for req in (lambda: rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=0), timeout=T),
                    lambda: rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid), timeout=T)):
            try:
                req()
            except grpc.RpcError as e:
                print(f'INFO cleanup of container {cid[:12]}: {e.code()} {e.details()}')
    if sandbox_id:
        for req in (lambda: rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=T),
                    lambda: rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=T)):
            try:
                req()
            except grpc.RpcError as e:
                print(f'INFO cleanup of sandbox {sandbox_id[:12]}: {e.code()} {e.details()}')

sys.exit(1 if failed else 0)
