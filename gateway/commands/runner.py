"""Running one accounts command: settings, then input, then the store, then the action.

Input (a password prompt) is read before the store is opened, so a person typing never
holds the data dir's lock that a starting gateway waits for. Every failure becomes one
line on stderr and an exit code: 2 for usage and configuration, 1 for the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

import msgspec
from redis.exceptions import RedisError

from config import ConfigError, Settings, load_settings
from gateway.accounts.errors import AccountsError
from gateway.accounts.service import Accounts, open_accounts
from gateway.wiring.redis_store import StoreUnavailableError, open_store

OK = 0
FAILURE = 1
USAGE = 2

Action = Callable[[Accounts], Awaitable[int]]
Prepare = Callable[[Settings], Action]


class CommandError(Exception):
    """What to tell the user, and the exit code."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.code = code


def say(message: str) -> None:
    """Everything but a command's result goes to stderr (`KEY=$(atlas keys create ...)`)."""
    sys.stderr.write(f"atlas: {message}\n")


def run(args: argparse.Namespace, prepare: Prepare) -> int:
    """Load the settings, let `prepare` read its input, then run its action on the store."""
    try:
        settings = load_settings(args.config)
        action = prepare(settings)
        return asyncio.run(_on_accounts(settings, action))
    except ConfigError as exc:
        say(f"invalid configuration: {exc}")
        return USAGE
    except CommandError as exc:
        say(str(exc))
        return exc.code
    except StoreUnavailableError as exc:  # StoreBusyError too
        say(str(exc))
        return FAILURE
    except AccountsError as exc:
        say(str(exc))
        return FAILURE
    except (RedisError, OSError) as exc:
        say(f"the Redis store failed: {exc}")
        return FAILURE
    except KeyboardInterrupt:
        say("interrupted")
        return FAILURE


async def _on_accounts(settings: Settings, action: Action) -> int:
    # No key cache: a command authenticates nothing, and its listener would be one more
    # connection. Changes still publish, so running gateways drop their cached keys.
    quiet = msgspec.structs.replace(settings.accounts, key_cache_ttl_s=0.0)
    async with (
        open_store(settings.redis, role="command") as store,
        open_accounts(store.redis, store.prefix, quiet) as accounts,
    ):
        return await action(accounts)
