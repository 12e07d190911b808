"""Which model references the studio accepts, and what it checks before it loads a model file.

Loading a scikit-learn model runs code of the file's choosing unless it is skops with trusted types, so the
studio loads only models it logged itself: a reference is `models:/<name>/<version>`, `models:/<name>@<alias>`,
`runs:/<run id>/model`, a run id or `name@alias` (never a path: no `..`, no other artifact), the files must come
from the studio's own artifact store, and their MLmodel must say skops and carry the studio's metadata.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from studio.errors import ModelNotFound

_NAME = r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,199}"
_REGISTERED = re.compile(rf"^models:/(?P<name>{_NAME})(/(?P<version>[0-9]{{1,9}})|@(?P<alias>[A-Za-z0-9_-]{{1,80}}))$")
_RUN = re.compile(r"^runs:/(?P<run>[0-9a-f]{32})/model$")
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_HINT = "Use models:/name/1, name@alias, a run id, or runs:/<run id>/model."


def check_uri(uri: str, *, ref: str | None = None) -> str:
    """`uri` when it is a registered version/alias or a run's own model; ModelNotFound otherwise."""
    if (_REGISTERED.match(uri) and ".." not in uri) or _RUN.match(uri):
        return uri
    raise ModelNotFound(f"'{ref or uri}' is not a model reference the studio loads. {_HINT}")


def check_source(download_uri: str, artifact_root: str) -> None:
    """Refuse model files that are not in the studio's own artifact store."""
    if _inside(download_uri, artifact_root):
        return
    raise ModelNotFound("That model's files are not in the studio's artifact store, so it is not loaded: the studio "
                        "loads only the models it trained itself.")


def _inside(uri: str, root: str) -> bool:
    if root.startswith("file:") or "://" not in root:
        if not (uri.startswith("file:") or "://" not in uri):
            return False
        path, base = Path(_local(uri)).resolve(), Path(_local(root)).resolve()
        return path.is_relative_to(base)
    return ".." not in uri and uri.rstrip("/").startswith(root.rstrip("/") + "/")


def _local(uri: str) -> str:
    return unquote(urlparse(uri).path) if uri.startswith("file:") else uri


def check_mlmodel(flavors: dict[str, Any], metadata: dict[str, Any] | None, *, ref: str) -> dict[str, Any]:
    """The studio's metadata of a downloaded model, when its MLmodel says skops; ModelNotFound otherwise."""
    sklearn = flavors.get("sklearn") or {}
    saved_as = sklearn.get("serialization_format") or "no scikit-learn flavor"
    if saved_as != "skops":
        raise ModelNotFound(f"Model '{ref}' is not saved with skops ({saved_as}), so it is not loaded: it could run "
                            "code of its own.")
    studio = (metadata or {}).get("studio")
    if not isinstance(studio, dict):
        raise ModelNotFound(f"Model '{ref}' was not trained by the studio (no studio metadata).")
    return studio
