"""Who may use the server: users from --auth USER:PASS or an --auth-file of USER:PASSWORD or
USER:pbkdf2_sha256$... lines (`assistant serve`, docs/server.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

HASH_SCHEME = "pbkdf2_sha256"
HASH_ITERATIONS = 200_000


def hash_password(password: str, salt: str | None = None, iterations: int = HASH_ITERATIONS) -> str:
    """A password as an --auth-file keeps it: pbkdf2_sha256$ITERATIONS$SALT$HASH (stdlib hashlib)."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"{HASH_SCHEME}${iterations}${salt}${base64.b64encode(digest).decode()}"


def check_password(stored: str, password: str) -> bool:
    if stored.startswith(HASH_SCHEME + "$"):
        _, iterations, salt, _digest = stored.split("$", 3)
        return hmac.compare_digest(hash_password(password, salt, int(iterations)), stored)
    return hmac.compare_digest(stored.encode(), password.encode())


class Users:
    """Who may open the chat and call the API. Callable as Gradio's auth function."""

    def __init__(self, users: dict[str, str]):
        self.users = users

    @classmethod
    def parse(cls, lines: list[str], where: str) -> Users:
        """USER:PASSWORD or USER:pbkdf2_sha256$... per line; blank lines and # comments skipped."""
        users = {}
        for number, line in enumerate(lines, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, password = line.partition(":")
            if not name or not password:
                raise ValueError(f"{where}, line {number}: expected USER:PASSWORD, both non-empty")
            if password.startswith(HASH_SCHEME + "$") and len(password.split("$")) != 4:
                raise ValueError(f"{where}, line {number}: a hashed password is {HASH_SCHEME}$ITERATIONS$SALT$HASH "
                                 "(assistant hash-password makes one)")
            users[name] = password
        if not users:
            raise ValueError(f"{where}: no USER:PASSWORD line")
        return cls(users)

    def __call__(self, username: str, password: str) -> bool:
        stored = self.users.get(username)
        return stored is not None and check_password(stored, password)
