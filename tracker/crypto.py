"""Encryption at rest and blind indexes.

Names, A-numbers and phone numbers are stored encrypted (Fernet; several keys, the newest
encrypts, all decrypt). Equality lookups use HMAC-SHA256 "blind index" columns of the
normalised value, so a stolen database file reveals neither the value nor a usable hash.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import unicodedata

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from tracker.settings import get_settings


class DecryptionError(RuntimeError):
    """A stored value could not be decrypted with any configured key."""


@functools.cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def data_keys() -> tuple[str, ...]:
    """The key ring, newest first. Read from the process settings because the column type
    (``types.EncryptedText``) that encrypts and decrypts is handed no session."""
    return get_settings().data_keys


def encrypt(plain: str) -> str:
    return _fernet(data_keys()).encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet(data_keys()).decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise DecryptionError("stored value does not decrypt with any key in DATA_KEYS") from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the newest key."""
    return _fernet(data_keys()).rotate(token.encode("ascii")).decode("ascii")


def fold(value: str) -> str:
    """Normalise text for matching: NFKD, accents dropped, case-folded, whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def blind_index(purpose: str, normalised: str) -> str:
    """Keyed hash of an already-normalised value; ``purpose`` separates the index spaces."""
    key = get_settings().data_index_key.encode()
    mac = hmac.new(key, f"{purpose}\x00{normalised}".encode(), hashlib.sha256)
    return mac.hexdigest()


def name_tokens(*names: str | None) -> set[str]:
    """Blind indexes of every whole word of the given names, for ``q`` search."""
    words: set[str] = set()
    for name in names:
        if name:
            words.update(w for w in fold(name).replace("-", " ").split() if w)
    return {blind_index("name", w) for w in words}
