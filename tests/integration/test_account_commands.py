"""`atlas users ...` and `atlas keys ...` as real processes on a real embedded store:
with no gateway (each command runs its own redis-server and stops it), and beside a
running `atlas serve` on the same data dir (each command joins its server as a guest)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import select
import subprocess
import termios
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from config.accounts import AccountsSettings
from config.redis import RedisSettings
from gateway.accounts.keys import KeyRejected
from gateway.accounts.schema import ApiKey, KeyLimits, User
from gateway.accounts.service import Accounts, open_accounts
from gateway.wiring.redis_store import open_store
from tests.conftest import free_port
from tests.integration.atlas_commands import ATLAS, ROOT, atlas, atlas_env, redis_servers

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(120)]

PASSWORD = "correct horse battery"


def in_store[T](
    data_dir: Path, use: Callable[[Accounts], Awaitable[T]], *, guest: bool = False
) -> T:
    """Run `use` on the accounts of the data dir's store, as another command would; as a
    guest of the gateway's server when one runs."""

    async def go() -> T:
        settings = RedisSettings(data_dir=str(data_dir))
        async with (
            open_store(settings, role="command") as store,
            open_accounts(store.redis, store.prefix, AccountsSettings()) as accounts,
        ):
            assert store.mode == ("guest" if guest else "embedded")
            return await use(accounts)

    return asyncio.run(go())


def has_password(data_dir: Path, name: str, password: str) -> bool:
    async def verify(accounts: Accounts) -> bool:
        user = await accounts.users.find(name)
        assert user is not None, name
        return (await accounts.passwords.verify(user.password_hash, password)).ok

    return in_store(data_dir, verify)


@dataclass
class Gateway:
    proc: subprocess.Popen[bytes]
    url: str
    redis_pid: int


def start_gateway(data_dir: Path, **env: str) -> Gateway:
    port = free_port()
    proc = subprocess.Popen(
        [*ATLAS, "serve", "--port", str(port)],
        cwd=ROOT,
        env=atlas_env(data_dir, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            assert httpx.get(url + "/health").status_code == 200  # after the lifespan's start
            break
        except httpx.TransportError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "") from None
            assert time.monotonic() < deadline, "atlas serve did not start"
            time.sleep(0.1)
    servers = redis_servers(data_dir)
    assert len(servers) == 1, servers  # the gateway's embedded store
    return Gateway(proc, url, servers[0])


def stop_gateway(gateway: Gateway) -> None:
    gateway.proc.terminate()
    gateway.proc.wait(timeout=30)


@pytest.fixture(params=["no gateway", "beside a gateway"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gateway | None]:
    if request.param == "no gateway":
        yield None
        return
    gateway = start_gateway(tmp_path)
    yield gateway
    stop_gateway(gateway)


def check_servers(data_dir: Path, gateway: Gateway | None) -> None:
    """After a command: only the gateway's server is left, or none at all."""
    assert redis_servers(data_dir) == ([] if gateway is None else [gateway.redis_pid])


def test_users_and_keys_from_the_command_line(tmp_path: Path, setup: Gateway | None) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")

    done = atlas(
        tmp_path, "users", "create-admin", "--name", "Root", "--password-file", str(password_file)
    )
    assert done.returncode == 0, done.stderr
    assert "created admin 'root'" in done.stderr and done.stdout == ""
    check_servers(tmp_path, setup)

    again = atlas(
        tmp_path, "users", "create-admin", "--name", "other", "--password-file", str(password_file)
    )
    assert again.returncode == 1
    assert again.stderr.strip().endswith(
        "an admin already exists (root); nothing was changed "
        "(atlas users create --role admin adds another)"
    )

    no_tty = atlas(tmp_path, "users", "create", "--name", "bob")
    assert no_tty.returncode == 2
    assert "no terminal to ask for the password: give --password-file" in no_tty.stderr

    bob = atlas(tmp_path, "users", "create", "--name", "bob", "--password-file", str(password_file))
    assert bob.returncode == 0, bob.stderr

    limits = ["--rpm", "60", "--tpm", "1000", "--daily-tokens", "5000"]
    limits += ["--concurrency", "2", "--max-k", "4", "--models", "coder, chat", "--expires-in", "7"]
    created = atlas(tmp_path, "keys", "create", "--user", "bob", "--name", "ci", *limits)
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert len(lines) == 1 and created.stdout == lines[0] + "\n"
    key = lines[0]
    assert "shown only this once" in created.stderr and key not in created.stderr
    check_servers(tmp_path, setup)

    async def look(accounts: Accounts) -> tuple[ApiKey | KeyRejected, User | None]:
        return await accounts.keys.authenticate(key), await accounts.users.find("bob")

    record, user = in_store(tmp_path, look, guest=setup is not None)
    assert isinstance(record, ApiKey) and user is not None
    assert record.owner == user.id and record.name == "ci"
    assert record.limits == KeyLimits(rpm=60, tpm=1000, daily_tokens=5000, concurrency=2, max_k=4)
    assert record.models == ("coder", "chat")
    assert record.expires_at is not None
    assert abs(record.expires_at - (time.time() + 7 * 86_400)) < 120

    table = atlas(tmp_path, "keys", "list")
    assert table.returncode == 0, table.stderr
    assert key not in table.stdout and key[20:] not in table.stdout
    row = next(line for line in table.stdout.splitlines() if line.startswith(record.id))
    cells = re.split(r" {2,}", row)  # columns are two or more spaces apart
    assert cells[1:4] == ["bob", "ci", f"...{key[-4:]}"] and cells[5] == "-", cells
    assert cells[7:] == [
        "active",
        "rpm=60 tpm=1000 daily_tokens=5000 concurrency=2 max_k=4",
        "coder,chat",
    ]
    listed = json.loads(atlas(tmp_path, "keys", "list", "--json", "--user", "bob").stdout)
    assert [k["id"] for k in listed] == [record.id]
    assert listed[0]["limits"]["tpm"] == 1000 and listed[0]["owner_name"] == "bob"
    assert key not in json.dumps(listed)

    bearer = {"authorization": f"Bearer {key}"}
    if setup is not None:  # the running gateway takes the key the command made ...
        assert httpx.get(setup.url + "/v1/models", headers=bearer).status_code == 200

    revoked = atlas(tmp_path, "keys", "revoke", record.id)
    assert revoked.returncode == 0, revoked.stderr
    if setup is not None:  # ... and refuses it at once once the command revoked it
        refused = httpx.get(setup.url + "/v1/models", headers=bearer)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    rejected = in_store(
        tmp_path, lambda accounts: accounts.keys.authenticate(key), guest=setup is not None
    )
    assert rejected == KeyRejected("revoked")
    assert "revoked" in atlas(tmp_path, "keys", "list").stdout
    check_servers(tmp_path, setup)


def test_failures_are_one_line_with_their_exit_code(tmp_path: Path) -> None:
    unknown = atlas(tmp_path, "keys", "create", "--user", "nobody", "--name", "x")
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "atlas: no user named 'nobody' (atlas users list)\n",
    )
    assert unknown.stdout == ""
    weak = atlas(
        tmp_path, "users", "create", "--name", "eve", "--password-file", "-", stdin="short\n"
    )
    assert (weak.returncode, weak.stderr) == (1, "atlas: a password needs at least 12 characters\n")
    no_file = atlas(
        tmp_path, "users", "create", "--name", "eve", "--password-file", str(tmp_path / "none")
    )
    assert no_file.returncode == 2 and "--password-file" in no_file.stderr
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[redis]\nprefx = 'x'\n")
    config = atlas(tmp_path, "users", "list", "--config", str(bad_config))
    assert config.returncode == 2 and "redis.prefx: unknown key" in config.stderr
    assert atlas(tmp_path, "keys", "revoke", "0123456789ab").returncode == 1
    assert (
        atlas(tmp_path, "keys", "create", "--user", "x", "--name", "y", "--rpm", "0").returncode
        == 2
    )
    assert redis_servers(tmp_path) == []


def test_the_first_start_creates_the_admin_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "admin-password"
    secret.write_text(PASSWORD + "\n")
    gateway = start_gateway(
        tmp_path, ATLAS_ADMIN_PASSWORD_FILE=str(secret), ATLAS_ADMIN_NAME="boss"
    )
    try:
        users = json.loads(atlas(tmp_path, "users", "list", "--json").stdout)
    finally:
        stop_gateway(gateway)
    assert [(u["name"], u["role"]) for u in users] == [("boss", "admin")]

    assert has_password(tmp_path, "boss", PASSWORD)
    # An admin exists now: the file is not read again, so it may go.
    secret.unlink()
    gateway = start_gateway(tmp_path, ATLAS_ADMIN_PASSWORD_FILE=str(secret), ATLAS_ADMIN_NAME="x")
    try:
        users = json.loads(atlas(tmp_path, "users", "list", "--json").stdout)
    finally:
        stop_gateway(gateway)
    assert [u["name"] for u in users] == ["boss"]


def at_a_terminal(data_dir: Path, args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run a command with a pseudo-terminal as its controlling terminal (what getpass
    reads), typing each answer after its prompt; its exit code and what it showed."""
    master, slave = os.openpty()

    def take_terminal() -> None:  # in the child, after setsid: the pty becomes /dev/tty
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [*ATLAS, *args],
        cwd=ROOT,
        env=atlas_env(data_dir),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=take_terminal,
    )
    os.close(slave)
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            if pending and shown.count(b"Password") > len(answers) - len(pending):
                os.write(master, pending.pop(0).encode() + b"\n")
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), shown.decode(errors="replace")


def test_create_asks_for_the_password_twice_at_a_terminal(tmp_path: Path) -> None:
    code, shown = at_a_terminal(tmp_path, ["users", "create", "--name", "carol"], [PASSWORD] * 2)
    assert code == 0, shown
    assert "Password: " in shown and "Password again: " in shown
    assert PASSWORD not in shown  # not echoed
    assert "created member 'carol'" in shown

    assert has_password(tmp_path, "carol", PASSWORD)
    code, shown = at_a_terminal(
        tmp_path, ["users", "create", "--name", "dave"], [PASSWORD, PASSWORD + "!"]
    )
    assert code == 1 and "the two passwords differ; nothing was changed" in shown
    assert in_store(tmp_path, lambda accounts: accounts.users.find("dave")) is None


def test_a_password_from_a_pipe_but_not_from_a_terminal(tmp_path: Path) -> None:
    piped = atlas(tmp_path, "users", "create", "--name", "erin", "--password-file", "-",
                  stdin=PASSWORD + "\nthe second line is not read\n")  # fmt: skip
    assert piped.returncode == 0, piped.stderr

    assert has_password(tmp_path, "erin", PASSWORD)
    code, shown = at_a_terminal(
        tmp_path, ["users", "create", "--name", "fay", "--password-file", "-"], []
    )
    assert code == 2 and "--password-file - reads a pipe, not a terminal" in shown


def test_a_first_start_with_a_weak_password_does_not_start(tmp_path: Path) -> None:
    weak = tmp_path / "admin-password"
    weak.write_text("short\n")
    done = subprocess.run(
        [*ATLAS, "serve", "--port", str(free_port())],
        cwd=ROOT,
        env=atlas_env(tmp_path, ATLAS_ADMIN_PASSWORD_FILE=str(weak)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "the first admin 'admin': a password needs at least 12 characters" in done.stderr
    assert redis_servers(tmp_path) == []
