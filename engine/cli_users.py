"""``yujing users``: the console's accounts (engine/users.py), without editing hashes by hand.

    yujing users add wang --name 王值班 --role duty --centre 629901001001 --password-stdin
    yujing users passwd wang            (prompts twice, or --password-stdin)
    yujing users token ops-bot          (prints a new API token once; only its hash is kept)
    yujing users list
    yujing users remove wang

The file is DATA_DIR/secret/users.yaml unless ``--users-file`` (or the setting) says otherwise;
a running engine picks changes up at the next request.
"""
from __future__ import annotations

import getpass
import secrets
import sys

from pydantic import ValidationError

from streams.errors import ConfigError

ROLE_HELP = ("admin: every region, clear view, acts; leader: clear view, reads; analyst: reads, "
             "masked; duty (值班): acts, masked; machine: API tokens for other systems")


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("users", help="the console's accounts (login, jurisdiction, role)")
    p.add_argument("--config", help="YAML settings file")
    p.add_argument("--data-dir", help="data folder (default ./data)")
    p.add_argument("--users-file", help="the users file (default DATA_DIR/secret/users.yaml)")
    sub = p.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser("add", help="add an account")
    add.add_argument("login")
    add.add_argument("--name", required=True, help="the person's name as the console shows it")
    add.add_argument("--role", required=True, choices=["admin", "leader", "analyst", "duty", "machine"],
                     help=ROLE_HELP)
    add.add_argument("--centre", required=True,
                     help="the centre's 12-digit region code: 市 6299 0000 0000, 区县 6299 01.., "
                          "街道 629901001000, 社区 629901001001; the user sees it and below")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(func=cmd_add)
    pw = sub.add_parser("passwd", help="set an account's password")
    pw.add_argument("login")
    pw.add_argument("--password-stdin", action="store_true")
    pw.set_defaults(func=cmd_passwd)
    tk = sub.add_parser("token", help="make an API token for an account (printed once)")
    tk.add_argument("login")
    tk.set_defaults(func=cmd_token)
    ls = sub.add_parser("list", help="list the accounts")
    ls.set_defaults(func=cmd_list)
    rm = sub.add_parser("remove", help="remove an account")
    rm.add_argument("login")
    rm.set_defaults(func=cmd_remove)


def _path(args):
    from .config import load_settings, users_path
    settings = load_settings(args.config, data_dir=args.data_dir, users_file=args.users_file)
    return users_path(settings)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise ConfigError("the two passwords differ")
    return first


def _load(path):
    from .users import load_users
    return load_users(path) if path.exists() else []


def cmd_add(args) -> int:
    from .users import User, hash_password, save_users
    path = _path(args)
    users = _load(path)
    if any(u.login == args.login for u in users):
        raise ConfigError(f"user {args.login} exists (use `yujing users passwd`)", file=str(path))
    try:
        user = User(login=args.login, name=args.name, role=args.role, centre=args.centre)
    except ValidationError as exc:
        e = exc.errors(include_url=False)[0]
        raise ConfigError(f"{'.'.join(map(str, e['loc']))}: {e['msg']}") from None
    if args.role != "machine":
        user = user.model_copy(update={"password": hash_password(_read_password(args.password_stdin))})
    save_users(path, users + [user])
    print(f"added {user.login} ({user.name}, {user.role}, {user.level} {user.centre}) to {path}")
    return 0


def _replace(args, update) -> int:
    from .users import save_users
    path = _path(args)
    users = _load(path)
    found = [u for u in users if u.login == args.login]
    if not found:
        raise ConfigError(f"no user {args.login}", file=str(path))
    save_users(path, [update(u) if u.login == args.login else u for u in users])
    return 0


def cmd_passwd(args) -> int:
    from .users import hash_password
    pw = hash_password(_read_password(args.password_stdin))
    _replace(args, lambda u: u.model_copy(update={"password": pw}))
    print(f"password of {args.login} changed")
    return 0


def cmd_token(args) -> int:
    from .users import token_hash
    token = secrets.token_urlsafe(32)
    _replace(args, lambda u: u.model_copy(update={"tokens": u.tokens + (token_hash(token),)}))
    print(token)
    print(f"(API token for {args.login}: send it as `Authorization: Bearer ...`; "
          "it is not shown again)", file=sys.stderr)
    return 0


def cmd_list(args) -> int:
    for u in _load(_path(args)):
        print(f"{u.login:16} {u.name:8} {u.role:8} {u.level:4} {u.centre} "
              f"{'password' if u.password else '-'} {len(u.tokens)} token(s)")
    return 0


def cmd_remove(args) -> int:
    from .users import save_users
    path = _path(args)
    users = _load(path)
    if not any(u.login == args.login for u in users):
        raise ConfigError(f"no user {args.login}", file=str(path))
    save_users(path, [u for u in users if u.login != args.login])
    print(f"removed {args.login}")
    return 0
