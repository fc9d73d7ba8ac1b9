"""The web chat's device identity: a random id in a signed cookie, and the page's CSRF token.

The signing secret comes from `LAWBOT_WEB_SECRET`, else from a file generated once beside the
SQLite database (or under ./data), so every process and every restart signs alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["SECRET_ENV", "Devices", "WebSecretError", "load_secret", "secret_dir_for"]

logger = logging.getLogger(__name__)

SECRET_ENV = "LAWBOT_WEB_SECRET"
SECRET_FILE = "web-secret"
SECRET_MIN_CHARS = 16
DEVICE_BYTES = 18  # 24 URL-safe characters: `web:<device>:<message id ≤ 32>` fits 64
_DEVICE = re.compile(r"^[A-Za-z0-9_-]{24}$")


class WebSecretError(Exception):
    """The web chat's secret is unusable; the message is for the operator."""


def secret_dir_for(database_url: str) -> Path:
    """Where the generated secret lives: beside a SQLite file, else ./data."""
    url = make_url(database_url)
    name = url.database or ""
    if url.get_backend_name() == "sqlite" and name not in ("", ":memory:"):
        return Path(name).parent
    return Path("data")


def load_secret(directory: Path) -> bytes:
    """Return `$LAWBOT_WEB_SECRET`, else the secret stored in `directory` (made on first use)."""
    configured = os.environ.get(SECRET_ENV, "").strip()
    if configured:
        if len(configured) < SECRET_MIN_CHARS:
            raise WebSecretError(
                f"{SECRET_ENV} 太短 / is too short: use at least {SECRET_MIN_CHARS} random "
                "characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return configured.encode("utf-8")
    path = directory / SECRET_FILE
    if not path.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        draft = directory / f".{SECRET_FILE}.{secrets.token_hex(4)}"
        draft.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
        draft.chmod(0o600)
        try:
            os.link(draft, path)  # atomic: of two processes starting at once, one secret wins
            logger.info("generated the web chat secret in %s", path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < SECRET_MIN_CHARS:
        raise WebSecretError(f"{path} 内容无效 / holds no usable secret: delete it to regenerate")
    return secret.encode("utf-8")


@dataclass(frozen=True, slots=True)
class Devices:
    """Issue and check device cookies and the CSRF tokens bound to them (HMAC-SHA256)."""

    secret: bytes

    @staticmethod
    def new() -> str:
        """Return a fresh random device id."""
        return secrets.token_urlsafe(DEVICE_BYTES)

    def cookie(self, device: str) -> str:
        """The cookie value naming `device`: the id and its signature."""
        return f"{device}.{self._sign('device', device)}"

    def device(self, cookie: str | None) -> str | None:
        """Return the device a cookie names, or None when it is missing, malformed or forged."""
        device, _, signature = (cookie or "").partition(".")
        if not _DEVICE.fullmatch(device):
            return None
        if not _same(signature, self._sign("device", device)):
            return None
        return device

    def csrf(self, device: str) -> str:
        """The token the page of `device` sends with each request."""
        return self._sign("csrf", device)

    def check_csrf(self, device: str, token: str | None) -> bool:
        """Tell whether `token` is the CSRF token of `device`."""
        return token is not None and _same(token, self.csrf(device))

    def owner(self, device: str) -> str:
        """A tag for the page's stored transcript: another device's transcript is not shown."""
        return self._sign("owner", device)[:12]

    def _sign(self, purpose: str, value: str) -> str:
        digest = hmac.new(self.secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode("ascii")


def _same(given: str, expected: str) -> bool:
    # compare_digest refuses non-ASCII str; bytes compare any input in constant time
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("ascii"))
