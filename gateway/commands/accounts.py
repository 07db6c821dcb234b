"""`atlas users create-admin|create|list` and `atlas keys create|list|revoke`.

The operator's tools for headless set-ups: they act with every right (no principal),
on the store the gateway uses. `keys create` prints the new key alone on stdout, so
`KEY=$(atlas keys create ...)` works; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from config import Settings
from gateway.accounts.errors import AdminExistsError
from gateway.accounts.schema import ROLES, KeyLimits, User
from gateway.accounts.service import Accounts
from gateway.commands.password_input import new_password
from gateway.commands.runner import OK, Action, CommandError, run, say
from gateway.commands.tables import keys_json, keys_table, users_json, users_table

DAY_S = 86_400.0
LIMIT_HELP = {
    "rpm": "requests per minute",
    "tpm": "tokens per minute (every candidate's)",
    "daily_tokens": "tokens per UTC day",
    "concurrency": "requests in flight at once",
    "max_k": "the most best-of-k candidates a request may ask for",
}
LIMIT_FLAGS = tuple(LIMIT_HELP)


def add_account_commands(commands: Any) -> None:
    """Register `users` and `keys` on the `atlas` parser's subcommands."""
    _add_users(commands)
    _add_keys(commands)


def _add_users(commands: Any) -> None:
    users = commands.add_parser("users", help="accounts: create admins and members, list them")
    sub = users.add_subparsers(dest="users_command", required=True)
    admin = sub.add_parser("create-admin", help="create the first admin (only if none exists)")
    _name_and_password(admin)
    admin.set_defaults(func=users_create_admin)
    create = sub.add_parser("create", help="create a user")
    _name_and_password(create)
    create.add_argument("--role", choices=ROLES, default="member")
    create.set_defaults(func=users_create)
    listing = sub.add_parser("list", help="list the users")
    _config(listing)
    listing.add_argument("--json", action="store_true", help="JSON for scripts")
    listing.set_defaults(func=users_list)


def _add_keys(commands: Any) -> None:
    keys = commands.add_parser("keys", help="API keys: create, list, revoke")
    sub = keys.add_subparsers(dest="keys_command", required=True)
    create = sub.add_parser("create", help="create a key; prints only the key, on stdout")
    _config(create)
    create.add_argument("--user", required=True, help="the owner's user name")
    create.add_argument("--name", required=True, help="what the key is for")
    for flag in LIMIT_FLAGS:
        flag_name = f"--{flag.replace('_', '-')}"
        create.add_argument(flag_name, type=_positive_int, metavar="N", help=LIMIT_HELP[flag])
    create.add_argument("--models", type=_model_list, help="allowed models: a,b (default all)")
    create.add_argument(
        "--expires-in", type=_positive_float, metavar="DAYS", help="default: never expires"
    )
    create.set_defaults(func=keys_create)
    listing = sub.add_parser("list", help="list keys (never the secret)")
    _config(listing)
    listing.add_argument("--user", help="only this user's keys")
    listing.add_argument("--json", action="store_true", help="JSON for scripts")
    listing.set_defaults(func=keys_list)
    revoke = sub.add_parser("revoke", help="revoke a key by its id (see keys list)")
    _config(revoke)
    revoke.add_argument("key_id")
    revoke.set_defaults(func=keys_revoke)


def _config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="the gateway's TOML config file (its [redis] store)")


def _name_and_password(parser: argparse.ArgumentParser) -> None:
    _config(parser)
    parser.add_argument("--name", required=True, help="the user name (stored lowercased)")
    parser.add_argument(
        "--password-file",
        metavar="FILE",
        help="read the password from FILE's first line (- for stdin); else asked twice",
    )


def users_create_admin(args: argparse.Namespace) -> int:
    def prepare(settings: Settings) -> Action:
        password = new_password(args.password_file, min_chars=settings.accounts.min_password_chars)

        async def act(accounts: Accounts) -> int:
            try:
                user = await accounts.users.create_first_admin(args.name, password)
            except AdminExistsError:
                names = [u.name for u in await accounts.users.list_users() if u.role == "admin"]
                raise CommandError(
                    f"an admin already exists ({', '.join(names)}); nothing was changed "
                    "(atlas users create --role admin adds another)"
                ) from None
            _created(user)
            return OK

        return act

    return run(args, prepare)


def users_create(args: argparse.Namespace) -> int:
    def prepare(settings: Settings) -> Action:
        password = new_password(args.password_file, min_chars=settings.accounts.min_password_chars)

        async def act(accounts: Accounts) -> int:
            _created(await accounts.users.create(args.name, password, role=args.role))
            return OK

        return act

    return run(args, prepare)


def users_list(args: argparse.Namespace) -> int:
    def prepare(settings: Settings) -> Action:
        async def act(accounts: Accounts) -> int:
            users = await accounts.users.list_users()
            sys.stdout.write(users_json(users) if args.json else users_table(users))
            return OK

        return act

    return run(args, prepare)


def keys_create(args: argparse.Namespace) -> int:
    limits = KeyLimits(**{flag: getattr(args, flag) for flag in LIMIT_FLAGS})
    expires_at = None if args.expires_in is None else time.time() + args.expires_in * DAY_S

    def prepare(settings: Settings) -> Action:
        async def act(accounts: Accounts) -> int:
            owner = await _user(accounts, args.user)
            if owner.disabled:
                raise CommandError(f"user {owner.name!r} is disabled: enable them first")
            created = await accounts.keys.create(
                owner.id, args.name, expires_at=expires_at, models=args.models, limits=limits
            )
            sys.stdout.write(created.key + "\n")
            sys.stdout.flush()
            say(
                f"created key {created.record.id} ({created.record.name!r}) for "
                f"{owner.name!r}: it is shown only this once"
            )
            return OK

        return act

    return run(args, prepare)


def keys_list(args: argparse.Namespace) -> int:
    def prepare(settings: Settings) -> Action:
        async def act(accounts: Accounts) -> int:
            owner = None if args.user is None else (await _user(accounts, args.user)).id
            keys = await accounts.keys.list_keys(owner)
            names = {u.id: u.name for u in await accounts.users.list_users()}
            render = keys_json if args.json else keys_table
            sys.stdout.write(render(keys, names, time.time()))
            return OK

        return act

    return run(args, prepare)


def keys_revoke(args: argparse.Namespace) -> int:
    def prepare(settings: Settings) -> Action:
        async def act(accounts: Accounts) -> int:
            before = await accounts.keys.get(args.key_id)  # NotFoundError: "no key ..."
            if before.revoked:
                say(f"key {before.id} ({before.name!r}) was already revoked")
                return OK
            await accounts.keys.revoke(before.id)
            say(f"revoked key {before.id} ({before.name!r}); gateways refuse it from now on")
            return OK

        return act

    return run(args, prepare)


async def _user(accounts: Accounts, name: str) -> User:
    user = await accounts.users.find(name)
    if user is None:
        raise CommandError(f"no user named {name!r} (atlas users list)")
    return user


def _created(user: User) -> None:
    say(f"created {user.role} {user.name!r} (id {user.id})")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of days, not {text}")
    return value


def _model_list(text: str) -> tuple[str, ...]:
    models = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    if not models:
        raise argparse.ArgumentTypeError("name at least one model (leave --models out for all)")
    return models
