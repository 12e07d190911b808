"""Secrets held by the processes that need them, out of the environment every child process inherits.

The app and the worker read the secret key and database passwords from the environment. A Dask worker
process inherits its parent's environment at spawn (readable by any task, and in `/proc/<pid>/environ`),
so before this process starts a local Dask cluster, `seal()` moves every secret-looking variable into
memory here; `getenv` reads either place. A child that is entitled to them (the studio's own worker)
gets them back explicitly with `entitled_env()`.
"""

from __future__ import annotations

import os
import re
import threading

_SECRET = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_KEY|_KEY$|DATABASE_URL|"
                     r"TRACKING_URI|OPTUNA_STORAGE|_DSN$)", re.IGNORECASE)
_held: dict[str, str] = {}
_lock = threading.Lock()


def is_secret(name: str) -> bool:
    """Whether a variable's name says it holds a secret (or a store URL, which may carry a password)."""
    return bool(_SECRET.search(name))


def seal() -> list[str]:
    """Move every secret-looking variable out of `os.environ` into this process's memory; returns their names."""
    with _lock:
        names = [name for name in os.environ if is_secret(name)]
        for name in names:
            _held[name] = os.environ.pop(name)
        return names


def getenv(name: str) -> str | None:
    """A variable from the environment, or from the secrets sealed away from it."""
    value = os.environ.get(name)
    return value if value is not None else _held.get(name)


def sealed(name: str) -> str | None:
    """A secret this process sealed away (None when it was never sealed)."""
    return _held.get(name)


def entitled_env(**extra: str) -> dict[str, str]:
    """The full environment, secrets included, for a child that needs them (the studio's own worker)."""
    with _lock:
        return {**_held, **os.environ, **extra}


def shown_url(url: str) -> str:
    """A URL as it may be shown in a message or stored in a source string: any user:password@ removed."""
    return re.sub(r"(?<=//)[^/@]*@", "", url, count=1)


def forget() -> None:
    """Drop every sealed secret (tests: each starts from its own environment)."""
    with _lock:
        _held.clear()
