"""Password hashes: argon2id, with argon2-cffi's recommended parameters (RFC 9106, low memory:
about a fifth of a second a hash here, on purpose)."""

from __future__ import annotations

from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Hashes and checks passwords with one argon2 hasher."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher

    def use(self, hasher: PasswordHasher) -> None:
        """Hash and check with `hasher` from now on, in this process. The test suite uses
        argon2's own profile for tests (`argon2.profiles.CHEAPEST`): a hash in microseconds."""
        self.hasher = hasher
        self.__dict__.pop("_nobodys_hash", None)

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def matches(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def matches_nobody(self, password: str) -> bool:
        """Checked when no account has the address, so that both answers take as long."""
        return self.matches(self._nobodys_hash, password)

    def outdated(self, password_hash: str) -> bool:
        """Hashed with other parameters than today's: hash it again at the next sign-in."""
        return self.hasher.check_needs_rehash(password_hash)

    @cached_property
    def _nobodys_hash(self) -> str:
        # Made on first use, not at import: every command that imports accounts would pay it.
        return self.hash("no account has this password")


PASSWORDS = Passwords(PasswordHasher())
