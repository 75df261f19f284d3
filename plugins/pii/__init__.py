"""`pii`: personal data and secrets in requests -- masked, redacted or refused.

See docs/pii.md. Modules: `detectors` (one recognizer per entity type), `phones` (the
phone-number check: phonenumbers' verdict, cheaply), `masking` (the per-call placeholder
vault), `stream_unmask` (placeholders split across stream chunks),
`policy` (configuration), `plugin` (the hooks).
"""

from .detectors import BUILTIN_ENTITIES, Finding, Recognizer, Scanner
from .masking import Vault
from .plugin import VAULT, PIIPlugin
from .stream_unmask import StreamUnmasker

__all__ = [
    "BUILTIN_ENTITIES",
    "VAULT",
    "Finding",
    "PIIPlugin",
    "Recognizer",
    "Scanner",
    "StreamUnmasker",
    "Vault",
]
