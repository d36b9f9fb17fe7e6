"""Settings: defaults < a YAML config file < YUJING_* environment variables < command-line flags.

A bad value is a ``ConfigError`` that names the setting (and the file), never a traceback.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.errors import ConfigError

from .fusion import Fusion, LevelCuts


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YUJING_", env_nested_delimiter="__",
                                      extra="forbid")

    data_dir: Path = Field(Path("data"), description="chDB store, dead letters, keys")
    store_url: str | None = Field(None, description="clickhouse://user:pass@host:9000/db to use a "
                                  "ClickHouse server instead of the embedded chDB store")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    speed: float = Field(3600.0, ge=0, description="event seconds per wall second; 0 = as fast as possible")
    batch_size: int = Field(500, ge=1, le=100_000)
    lateness_hours: float = Field(6.0, ge=0, description="watermark = newest event time - lateness")
    retention_days: float = Field(60.0, ge=31, description="cases and record ids older than this leave memory (the store keeps them); at least a case's 30-day idle time")
    rules_dir: Path = Field(Path(__file__).resolve().parents[1] / "rules" / "packs",
                            description="the rule packs (YAML) the engine runs and watches")
    rules_poll_seconds: float = Field(2.0, gt=0, description="how often edited packs are reloaded")
    graph_patterns: bool = Field(False, description="add the relationship-graph detector (graph/): "
                                 "off by default until it improves detection (README); its graph is "
                                 "saved to DATA_DIR/graph.json at stop for `yujing graph explain`")
    learning: bool = Field(True, description="add the escalation model (learning/) to the "
                           "detectors: on the synthetic city it raises recall at a 5% warning "
                           "budget over the rules alone (benchmarks/results/learning.json); its "
                           "checkpoint is DATA_DIR/models/learning.json, loaded at start, saved at stop")
    levels: LevelCuts = LevelCuts()
    fusion: Fusion = Fusion()
    sim_days: int = Field(30, ge=1, le=3660)
    sim_seed: int = 7
    sim_scale: float = Field(1.0, gt=0, le=1000)
    auth: bool = Field(True, description="console login (engine/gate.py); may be off only when "
                       "serving on a loopback host: everyone is then one local operator, masked")
    users_file: Path | None = Field(None, description="the console's accounts (engine/users.py); "
                                    "default DATA_DIR/secret/users.yaml, made with one admin on "
                                    "first start")
    hash_key_file: Path | None = Field(None, description="32-byte key for keyed hashes; default DATA_DIR/secret/hash.key")


def _errors_text(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"]) or "(settings)"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings; ``overrides`` are command-line values (None means not given)."""
    data: dict[str, Any] = {}
    if config_file:
        path = Path(config_file)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError("config file not found", file=str(path)) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=str(path),
                              line=mark.line + 1 if mark else None) from None
        if not isinstance(loaded, dict):
            raise ConfigError("a config file must be a mapping of setting: value", file=str(path))
        # the environment beats the file: drop file values that a YUJING_* variable sets
        env = {k.upper() for k in os.environ}
        data.update({k: v for k, v in loaded.items()
                     if f"YUJING_{str(k).upper()}" not in env
                     and not any(e.startswith(f"YUJING_{str(k).upper()}__") for e in env)})
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_errors_text(exc), file=str(config_file) if config_file else None) from None
    if not settings.auth and settings.host not in LOOPBACK:
        raise ConfigError(f"auth: login may be off only on a loopback host, not {settings.host}",
                          file=str(config_file) if config_file else None)
    return settings


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def users_path(settings: Settings) -> Path:
    return settings.users_file or settings.data_dir / "secret" / "users.yaml"


def hash_key(settings: Settings) -> bytes:
    """The keyed-hash secret: read it, or create it once (0600) beside the data."""
    path = settings.hash_key_file or settings.data_dir / "secret" / "hash.key"
    if path.exists():
        key = path.read_bytes()
        if len(key) < 16:
            raise ConfigError("hash key file is shorter than 16 bytes", file=str(path))
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key
