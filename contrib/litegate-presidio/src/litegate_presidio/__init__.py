"""litegate-presidio: Microsoft Presidio's recognizers inside litegate's `pii` plugin.

Enable it in pipeline.toml with ``plugin = "presidio-pii"``; it takes every key of the
built-in `pii` plugin plus ``presidio_entities``, ``score_threshold``, ``language`` and
``nlp_model``. See the README.
"""

from ._plugin import NLP_ENTITIES, PATTERN_ENTITIES, PresidioPIIPlugin

__version__ = "0.1.0"

__all__ = ["NLP_ENTITIES", "PATTERN_ENTITIES", "PresidioPIIPlugin", "__version__"]
