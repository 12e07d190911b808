"""Saved database connections: the fields in the studio database, the password never in plain text.

A password is either kept encrypted with a Fernet key that only the environment holds
(STUDIO_SECRET_KEY), or not kept at all and read at use time from an environment variable the
connection names (how a team injects secrets: Kubernetes secrets, Docker env files, Streamlit's
secrets exported to the environment). Without the key, the ciphertext in the database is useless.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from studio import db
from studio.data.sql import ConnectionSpec
from studio.errors import DataError


def new_secret_key() -> str:
    """A fresh key for STUDIO_SECRET_KEY."""
    return Fernet.generate_key().decode()


class ConnectionStore:
    def __init__(self, engine: sa.Engine, secret_key: SecretStr | None) -> None:
        self.engine = engine
        self._key = secret_key

    def save(self, spec: ConnectionSpec, *, remember_password: bool) -> ConnectionSpec:
        """Create or replace the connection `spec.name`; the password is encrypted, or not stored."""
        if not spec.name:
            raise DataError("Give the connection a name to save it.")
        token = None
        if remember_password and spec.password is not None and spec.password.get_secret_value():
            token = self._fernet().encrypt(spec.password.get_secret_value().encode()).decode()
        row = {"name": spec.name, "spec_json": spec.model_dump_json(), "password_token": token,
               "updated_at": time.time()}
        with self.engine.begin() as conn:
            conn.execute(db.connections.delete().where(db.connections.c.name == spec.name))
            conn.execute(db.connections.insert().values(**row))
        return spec.model_copy(update={"password": None})

    def list(self) -> list[ConnectionSpec]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(db.connections).order_by(db.connections.c.name)).mappings().all()
        return [ConnectionSpec.model_validate_json(r["spec_json"]) for r in rows]

    def has_stored_password(self, name: str) -> bool:
        return self._row(name)["password_token"] is not None

    def get(self, name: str) -> ConnectionSpec:
        """The connection with its password: decrypted, or read from its environment variable, or none."""
        row = self._row(name)
        spec = ConnectionSpec.model_validate_json(row["spec_json"])
        if row["password_token"] is not None:
            return spec.model_copy(update={"password": SecretStr(self._decrypt(row["password_token"], name))})
        return spec.with_env_password()

    def with_password(self, spec: ConnectionSpec, saved: ConnectionSpec | None) -> ConnectionSpec:
        """The connection a form edited, with the password to use: the one typed; else, when the form edits the
        saved connection `saved` under its own name, its stored (or environment) password; else the one its
        environment variable holds, or none."""
        if spec.password is not None:
            return spec
        if saved is not None and saved.name == spec.name and (self.has_stored_password(saved.name)
                                                               or spec.password_env == saved.password_env):
            return spec.model_copy(update={"password": self.get(saved.name).password})
        return spec.with_env_password()

    def delete(self, name: str) -> None:
        self._row(name)
        with self.engine.begin() as conn:
            conn.execute(db.connections.delete().where(db.connections.c.name == name))

    def _row(self, name: str) -> sa.RowMapping:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(db.connections).where(db.connections.c.name == name)).mappings().first()
        if row is None:
            raise DataError(f"No saved connection '{name}'. Saved: {', '.join(c.name for c in self.list()) or 'none'}.")
        return row

    def _fernet(self) -> Fernet:
        if self._key is None or not self._key.get_secret_value():
            raise DataError("To remember a password the studio needs an encryption key: set STUDIO_SECRET_KEY "
                            f"(for example to {new_secret_key()}) where the studio runs. Or do not remember it and "
                            "name an environment variable that holds it.")
        try:
            return Fernet(self._key.get_secret_value().encode())
        except ValueError:
            raise DataError("STUDIO_SECRET_KEY is not a valid key (32 url-safe base64-encoded bytes). "
                            "Generate one with `studio data secret-key`.") from None

    def _decrypt(self, token: str, name: str) -> str:
        fernet = self._fernet()
        try:
            return fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise DataError(f"The stored password of '{name}' cannot be decrypted with this STUDIO_SECRET_KEY "
                            "(the key changed). Save the connection again with its password.") from None

