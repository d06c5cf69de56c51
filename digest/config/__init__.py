"""The config file `feeds.yaml`: its schema, its loader with line-numbered errors, and sync."""

from digest.config.loader import ConfigError, Problem, load_config
from digest.config.schema import DigestConfig, FeedConfig
from digest.config.sync import SyncReport, sync_config

__all__ = [
    "ConfigError",
    "DigestConfig",
    "FeedConfig",
    "Problem",
    "SyncReport",
    "load_config",
    "sync_config",
]
