"""Which Parquet/Delta locations the studio may read: local paths under its data roots, and object stores an
admin configured by name. Everything else (other paths, http, ftp, any URL typed in) is refused before it is
opened, so the field cannot read the server's files or make the server fetch addresses (SSRF), and its errors
cannot tell an existing path or an open port from a missing one.

Data roots: STUDIO_DATA_ROOTS (paths separated by ':'), default STUDIO_HOME/data. Object stores: tables in
STUDIO_HOME/stores.toml, read as `store://NAME/path/in/store`; their credentials are named environment variables
(read only when the store is opened, never written into a dataset's source, a spec or a message):

    [warehouse]
    url = "s3://analytics-bucket/tables"
    options = { endpoint_url = "https://s3.eu-west-1.amazonaws.com" }
    secret_env = { key = "WAREHOUSE_KEY_ID", secret = "WAREHOUSE_SECRET" }
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from studio import vault
from studio.errors import DataError
from studio.paths import UnsafePath, within
from studio.settings import Settings

STORES_FILE = "stores.toml"
_STORE_URL = re.compile(r"^store://(?P<name>[A-Za-z0-9_-]{1,40})(?P<path>/[^?#]*)?$")
_STORE_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory")  # never http(s), ftp, file


class ObjectStore(BaseModel):
    """A named object store: its base URL, plain options, and the environment variables holding its secrets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    options: dict[str, str] = {}
    secret_env: dict[str, str] = {}


@dataclass(frozen=True)
class Resolved:
    """Where to read, and the options (credentials included) to read it with: never stored, never shown."""

    location: str
    storage_options: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def is_url(self) -> bool:
        return "://" in self.location


@dataclass(frozen=True)
class LakeAccess:
    roots: tuple[Path, ...]
    stores: dict[str, ObjectStore]

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeAccess:
        return cls(roots=settings.data_paths, stores=load_stores(settings.root / STORES_FILE))

    def resolve(self, location: str) -> Resolved:
        location = location.strip()
        if not location:
            raise DataError("Enter a path under a data folder, or store://NAME/path for a configured object store.")
        if "://" not in location or location.startswith("file://"):
            return Resolved(str(self._local(location.removeprefix("file://"))))
        match = _STORE_URL.match(location)
        if match is None:
            raise DataError(f"Refused {vault.shown_url(location)!r}: the studio reads no URL typed in (no "
                            "http, ftp or direct object-store URLs). Use a path under a data folder, or "
                            "store://NAME/path for an object store an admin configured in stores.toml.")
        store = self.stores.get(match["name"])
        if store is None:
            known = ", ".join(sorted(self.stores)) or "none configured"
            raise DataError(f"No object store named '{match['name']}' (configured: {known}).")
        sub = (match["path"] or "").strip("/")
        if any(part == ".." for part in sub.split("/")):
            raise DataError("A store path cannot climb out of its store ('..').")
        options = dict(store.options)
        for option, variable in store.secret_env.items():
            value = vault.getenv(variable)
            if value is None:
                raise DataError(f"Object store '{match['name']}' reads its {option} from the environment variable "
                                f"{variable}, which is not set where the studio runs.")
            options[option] = value
        return Resolved(store.url.rstrip("/") + (f"/{sub}" if sub else ""), options)

    def _local(self, location: str) -> Path:
        path = Path(location).expanduser()
        if not path.is_absolute() and self.roots:
            path = self.roots[0] / path
        try:
            return within(self.roots, path)
        except UnsafePath:
            roots = ", ".join(str(r) for r in self.roots)
            raise DataError(f"Refused '{location}': the studio reads only files under its data folders ({roots}). "
                            "Put the table there, or ask an admin to add its folder to STUDIO_DATA_ROOTS.") from None


def load_stores(path: Path) -> dict[str, ObjectStore]:
    if not path.is_file():
        return {}
    try:
        raw = tomllib.loads(path.read_text())
        stores = {name: ObjectStore.model_validate(values) for name, values in raw.items()}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValidationError, AttributeError) as exc:
        raise DataError(f"{path} is not a valid stores file: {str(exc).splitlines()[0]}") from None
    for name, store in stores.items():
        if urlsplit(store.url).scheme not in _STORE_SCHEMES:
            raise DataError(f"{path}: store '{name}' must be an object store URL ({', '.join(_STORE_SCHEMES)}).")
        if urlsplit(store.url).password or urlsplit(store.url).username:
            raise DataError(f"{path}: store '{name}' has credentials in its URL; name environment variables in "
                            "secret_env instead.")
    return stores
