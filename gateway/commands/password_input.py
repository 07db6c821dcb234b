"""A new user's password: from a file (`--password-file`), or asked twice at a terminal.

Never from an argument: those land in shell histories and `ps` output. `-` reads the
first line of stdin, for pipes (`vault read ... | atlas users create ... --password-file -`).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TextIO

from gateway.accounts.passwords import check_password, first_line, read_password_file
from gateway.commands.runner import USAGE, CommandError

STDIN = "-"


def new_password(path: str | None, *, min_chars: int, stdin: TextIO | None = None) -> str:
    """The password, checked against the policy before any store is opened."""
    stdin = sys.stdin if stdin is None else stdin
    password = _from_file(path, stdin) if path is not None else _asked(stdin, min_chars)
    check_password(password, min_chars=min_chars)  # WeakPasswordError says what is wrong
    return password


def _from_file(path: str, stdin: TextIO) -> str:
    if path == STDIN:
        if stdin.isatty():  # it would echo: leave the flag out to be asked instead
            raise CommandError("--password-file - reads a pipe, not a terminal", USAGE)
        return first_line(stdin.read())
    try:
        return read_password_file(Path(path).expanduser())
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"--password-file {path}: {exc}", USAGE) from exc


def _asked(stdin: TextIO, min_chars: int) -> str:
    # getpass would open /dev/tty even with stdin redirected: a script must not hang
    # on a prompt nobody sees.
    if not stdin.isatty():
        raise CommandError(
            "no terminal to ask for the password: give --password-file FILE (or - for stdin)",
            USAGE,
        )
    password = getpass.getpass("Password: ")
    check_password(password, min_chars=min_chars)  # before asking again
    if getpass.getpass("Password again: ") != password:
        raise CommandError("the two passwords differ; nothing was changed")
    return password
