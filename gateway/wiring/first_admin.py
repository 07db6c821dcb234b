"""First start: the admin named by `[accounts] admin_password_file` (ATLAS_ADMIN_PASSWORD_FILE).

A headless set-up (a container with a mounted secret) gets its first admin without
running `atlas users create-admin`. Only while no admin exists: once one does, the file
is not even read, so it may be removed after the first start.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from config.accounts import AccountsSettings
from gateway.accounts.errors import AccountsError
from gateway.accounts.passwords import read_password_file
from gateway.accounts.schema import User
from gateway.accounts.service import Accounts

logger = logging.getLogger(__name__)


class FirstAdminError(AccountsError):
    """The configured first admin could not be created: start-up stops, naming why."""


async def create_configured_admin(accounts: Accounts, settings: AccountsSettings) -> User | None:
    """The admin created now, or None (none configured, or an admin exists)."""
    if settings.admin_password_file is None or await accounts.users.has_admin():
        return None
    path = settings.admin_password_file
    try:
        password = await asyncio.to_thread(_read, path)
    except (OSError, UnicodeDecodeError) as exc:
        raise FirstAdminError(
            f"ATLAS_ADMIN_PASSWORD_FILE (accounts.admin_password_file) {path}: {exc}"
        ) from exc
    try:
        user = await accounts.ensure_first_admin(settings.admin_name, password)
    except AccountsError as exc:  # a weak password, an invalid or taken name
        raise FirstAdminError(f"the first admin {settings.admin_name!r}: {exc}") from exc
    if user is not None:  # None: another replica created one just now
        logger.info("accounts: created the first admin %r from %s", user.name, path)
    return user


def _read(path: str) -> str:
    return read_password_file(Path(path).expanduser())
