"""The rendered nsjail configuration holds every restriction the issue requires."""

from __future__ import annotations

from sandbox.config import Limits
from sandbox.jail import JailSpec, build_config, render
from sandbox.languages import Mount

SPEC = JailSpec(
    argv=("/usr/bin/python3.11", "-S", "/sandbox/main.py"),
    mounts=(
        Mount("/usr/bin/python3.11", "/usr/bin/python3.11"),
        Mount("usr/lib", "/lib", "symlink"),
    ),
    box_host_dir="/tmp/atlas-sandbox-x/box",
    box_writable=False,
    limits=Limits(memory_mb=128, cpu_time_s=3, tmpfs_mb=8, max_pids=16),
    memory_cgroup_parent="NSJAIL/atlas-1",
    pids_cgroup=True,
)


def test_required_settings_are_rendered() -> None:
    text = render(build_config(SPEC))
    for line in [
        "mode: ONCE",
        'inside_id: "65534"',
        'outside_id: "65534"',
        "iface_no_lo: true",
        "rlimit_cpu: 3",
        "rlimit_nproc: 16",
        "rlimit_nproc_type: VALUE",
        "rlimit_as: 512",
        "rlimit_fsize: 8",
        "rlimit_nofile: 64",
        "cgroup_pids_max: 16",
        'cgroup_mem_parent: "NSJAIL/atlas-1"',
        'options: "size=8m,mode=1777"',
        "noexec: true",
        'seccomp_string: "DEFAULT ALLOW"',
    ]:
        assert line in text, line
    assert "mount_proc: true" not in text
    assert "keep_env: true" not in text
    assert "clone_newnet: false" not in text


def test_nothing_binds_the_root_and_binds_are_read_only() -> None:
    config = build_config(SPEC)
    sources = [m.src for m in config.mount if m.is_bind]
    assert "/" not in sources
    writable = [m.dst for m in config.mount if m.rw]
    assert sorted(writable) == ["/dev/null", "/tmp"]


def test_seccomp_denies_the_dangerous_calls() -> None:
    policy = "\n".join(build_config(SPEC).seccomp_string)
    for name in (
        "ptrace",
        "mount",
        "unshare",
        "setns",
        "bpf",
        "perf_event_open",
        "keyctl",
        "userfaultfd",
        "io_uring_setup",
    ):
        assert f" {name}," in policy or f" {name} " in policy, name
    assert "socket(domain, type, protocol) { domain != 1 }" in policy


def test_without_cgroups_the_address_space_limit_is_the_memory_limit() -> None:
    spec = JailSpec(
        argv=SPEC.argv,
        mounts=SPEC.mounts,
        box_host_dir=SPEC.box_host_dir,
        box_writable=True,
        limits=SPEC.limits,
    )
    config = build_config(spec)
    assert config.rlimit_as == 128
    assert config.cgroup_mem_max == 0 and config.cgroup_pids_max == 0
    assert [m.rw for m in config.mount if m.dst == "/sandbox"] == [True]
