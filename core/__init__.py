"""litegate: an OpenAI-compatible AI gateway built from a TOML-declared chain of plugins."""

from .call import Attempt, Call, Limits, Principal, Retry, StashKey, Usage
from .config import GatewayConfig, load_config, parse_config
from .config_errors import ConfigError
from .deployment import Deployment
from .errors import GatewayError
from .gateway import Gateway
from .inprocess import acompletion, completion
from .markers import hookimpl, hookspec
from .replies import Reply, ReplyStream

__version__ = "0.1.0"

__all__ = [
    "Attempt",
    "Call",
    "ConfigError",
    "Deployment",
    "Gateway",
    "GatewayConfig",
    "GatewayError",
    "Limits",
    "Principal",
    "Reply",
    "ReplyStream",
    "Retry",
    "StashKey",
    "Usage",
    "acompletion",
    "completion",
    "hookimpl",
    "hookspec",
    "load_config",
    "parse_config",
]
