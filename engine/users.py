"""The console's users: a YAML file of accounts, each belonging to one centre (中心) at one level.

    users:
      - login: wang
        name: 王值班
        role: duty                  # admin | leader | analyst | duty | machine
        centre: "620102003000"      # the centre's 12-digit region code (here a 街道)
        password: "$argon2id$..."   # `yujing users add` / `yujing users passwd` write it
        tokens: ["sha256:..."]      # API tokens for machines (`yujing users token`), hashed

A user sees the centre's region and everything below it: the region code prefix of its level
(市 4 digits, 区县 6, 街道 9, 社区 12).  Passwords are argon2id hashes (argon2-cffi); tokens are
SHA-256 hashes of 32 random bytes, so the file holds no secret in clear.  A bad file is a
``ConfigError`` naming the file, the user and the field.

>>> u = User.model_validate({"login": "li", "name": "李", "role": "duty", "centre": "620102003004"})
>>> u.level, u.region_prefix
('社区', '620102003004')
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Literal

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from streams.errors import ConfigError
from streams.ident import check_region_code, region_prefixes

from .auth import ROLES, Viewer

log = logging.getLogger("yujing.users")
LEVEL_NAMES = ("省", "市", "区县", "街道", "社区")
PREFIX_LEN = (2, 4, 6, 9, 12)
_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("yujing-dummy-password")  # verified against for unknown logins (timing)


class User(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    login: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    name: str = Field(min_length=1, max_length=32)
    role: Literal["admin", "leader", "analyst", "duty", "machine"]
    centre: str
    password: str = ""
    tokens: tuple[str, ...] = ()

    @field_validator("centre")
    @classmethod
    def _centre(cls, v: str) -> str:
        return check_region_code(v)

    @property
    def level(self) -> str:
        return LEVEL_NAMES[len(region_prefixes(self.centre)) - 1]

    @property
    def region_prefix(self) -> str:
        if self.role == "admin":  # the system administrator: every region
            return ""
        return self.centre[:PREFIX_LEN[len(region_prefixes(self.centre)) - 1]]

    def viewer(self) -> Viewer:
        return Viewer(self.login, self.name, self.role, self.region_prefix, self.level,
                      clear=ROLES[self.role])


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ConfigError("a password needs at least 8 characters")
    return _HASHER.hash(password)


def token_hash(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


class Users:
    """The accounts of one users file; re-read when the file changes (``yujing users add``
    on a running engine takes effect at the next login)."""

    def __init__(self, path: Path):
        self.path = path
        self._mtime: tuple = ()
        self._by_login: dict[str, User] = {}
        self._by_token: dict[str, User] = {}
        self.refresh()

    def refresh(self) -> None:
        try:
            st = self.path.stat()
            mtime = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            raise ConfigError("users file not found (create one with `yujing users add`)",
                              file=str(self.path)) from None
        if mtime == self._mtime:
            return
        users = load_users(self.path)
        self._by_login = {u.login: u for u in users}
        self._by_token = {t: u for u in users for t in u.tokens}
        self._mtime = mtime

    def get(self, login: str) -> User | None:
        return self._by_login.get(login)

    def check_password(self, login: str, password: str) -> User | None:
        """The user if the password is right (argon2 verify; slow on purpose), else None."""
        user = self._by_login.get(login)
        try:
            _HASHER.verify(user.password if user and user.password else _DUMMY, password)
        except (VerificationError, InvalidHashError):
            return None
        return user if user and user.password else None

    def by_token(self, token: str) -> User | None:
        h = token_hash(token)
        for known, user in self._by_token.items():
            if hmac.compare_digest(known, h):
                return user
        return None


def load_users(path: Path) -> list[User]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=str(path),
                          line=mark.line + 1 if mark else None) from None
    raw = data.get("users") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise ConfigError("a users file needs a list under `users:`", file=str(path))
    out, seen = [], set()
    for i, item in enumerate(raw):
        try:
            u = User.model_validate(item)
        except ValidationError as exc:
            e = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in e["loc"]) or "(user)"
            who = item.get("login", f"#{i + 1}") if isinstance(item, dict) else f"#{i + 1}"
            raise ConfigError(f"user {who}: {field}: {e['msg']}", file=str(path)) from None
        if u.login in seen:
            raise ConfigError(f"user {u.login} appears twice", file=str(path))
        seen.add(u.login)
        out.append(u)
    return out


def save_users(path: Path, users: list[User]) -> None:
    """Write atomically, readable by the owner only (hashes are still worth guarding)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [u.model_dump(exclude_defaults=True) | {"tokens": list(u.tokens)} for u in users]
    for r in rows:
        if not r["tokens"]:
            del r["tokens"]
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# yujing console users (see engine/users.py); edit with `yujing users`\n")
        yaml.safe_dump({"users": rows}, fh, allow_unicode=True, sort_keys=False)
    os.replace(tmp, path)


def first_admin(path: Path, centre: str = "629900000000") -> Path:
    """On a first start with no users file: one admin (every region; the centre defaults to the
    simulated city) with a random password, written to a 0600 file beside the users file (never
    to the log). Returns that file's path."""
    password = secrets.token_urlsafe(12)
    save_users(path, [User(login="admin", name="管理员", role="admin", centre=centre,
                           password=hash_password(password))])
    pw_file = path.with_name("initial-admin-password")
    fd = os.open(pw_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    return pw_file


def open_users(settings) -> "Users | None":
    """The accounts the console checks (None when auth is off); the first start makes the file
    with one admin and says where its password is."""
    from .config import users_path
    if not settings.auth:
        log.warning("console login is OFF (auth: false): anyone reaching %s sees every region, "
                    "masked", settings.host)
        return None
    path = users_path(settings)
    if not path.exists():
        pw = first_admin(path)
        log.warning("first start: console account `admin` made; its password is in %s "
                    "(add accounts with `yujing users add`)", pw)
    return Users(path)
