"""A password hasher that counts its runs, so tests can count password checks (also across
threads): ``verify`` is a check of a real account's password, ``encode`` the dummy run for
an account that does not exist (and every ``set_password``)."""

from __future__ import annotations

import threading

from django.contrib.auth.hashers import MD5PasswordHasher
from django.utils.crypto import constant_time_compare

PATH = "tests.counting_hasher.CountingHasher"


class CountingHasher(MD5PasswordHasher):
    algorithm = "counted_md5"
    _lock = threading.Lock()
    runs = {"encode": 0, "verify": 0}

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.runs = {"encode": 0, "verify": 0}

    @classmethod
    def total(cls) -> int:
        return sum(cls.runs.values())

    def _count(self, kind: str) -> None:
        with self._lock:
            self.runs[kind] += 1

    def encode(self, password, salt):
        self._count("encode")
        return super().encode(password, salt)

    def verify(self, password, encoded):
        self._count("verify")
        # The parent's encode, not ours: one check counts once.
        salt = self.decode(encoded)["salt"]
        return constant_time_compare(encoded, super().encode(password, salt))
