"""`presidio-pii`: the built-in `pii` plugin, with Presidio's recognizers added to its own.

Presidio's pattern and checksum recognizers (credit cards, IBANs, US SSNs, ITINs,
passports, ...) need no model and no network. Its NLP recognizer (PERSON, LOCATION,
ORGANIZATION, NRP) needs a spaCy model, downloaded by the operator
(``python -m spacy download en_core_web_lg``) and named in ``nlp_model``.

Everything else -- placeholders, the mask/redact/block modes, streams, per-team and per-key
overrides, failing closed -- is the `pii` plugin's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from litegate.plugins.pii import PIIPlugin
from litegate.plugins.pii.detectors import Finder, Finding

__all__ = ["NLP_ENTITIES", "PATTERN_ENTITIES", "PresidioPIIPlugin"]

log = logging.getLogger("litegate.presidio")

#: Entities Presidio finds with patterns, checksums and phonenumbers: offline, no model.
PATTERN_ENTITIES = (
    "CREDIT_CARD",
    "CRYPTO",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "MEDICAL_LICENSE",
    "PHONE_NUMBER",
    "UK_NHS",
    "US_BANK_NUMBER",
    "US_DRIVER_LICENSE",
    "US_ITIN",
    "US_PASSPORT",
    "US_SSN",
    "URL",
    "UUID",
    "DATE_TIME",
)
#: Entities only Presidio's spaCy recognizer finds: they need `nlp_model` (a downloaded
#: spaCy model).
NLP_ENTITIES = ("PERSON", "LOCATION", "ORGANIZATION", "NRP")

_DEFAULT = (
    "CREDIT_CARD",
    "CRYPTO",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "PHONE_NUMBER",
    "UK_NHS",
    "US_ITIN",
    "US_SSN",
)


class PresidioPIIPlugin(PIIPlugin):
    @attrs.frozen
    class Config(PIIPlugin.Config):
        #: Presidio entity types to look for (besides the built-in `entities`). Those in
        #: NLP_ENTITIES need `nlp_model`.
        presidio_entities: list[str] = attrs.field(factory=lambda: list(_DEFAULT))
        #: Presidio's confidence a finding needs. Without an NLP model, context words do not
        #: raise scores, so weak patterns (bank numbers, passports, licences) stay low.
        score_threshold: float = 0.4
        #: The language Presidio's recognizers are loaded for.
        language: str = "en"
        #: A spaCy model installed in this environment (en_core_web_lg, ...); needed only for
        #: PERSON, LOCATION, ORGANIZATION and NRP. Never downloaded by the plugin.
        nlp_model: str | None = None

    config: Config

    def extra_finders(self) -> tuple[Sequence[Finder], Sequence[str]]:
        config = self.config
        wanted = list(config.presidio_entities)
        unknown = set(wanted) - set(PATTERN_ENTITIES) - set(NLP_ENTITIES)
        if unknown:
            raise ValueError(
                f"presidio_entities: unknown {sorted(unknown)}; pattern-based: "
                f"{', '.join(PATTERN_ENTITIES)}; with nlp_model: {', '.join(NLP_ENTITIES)}"
            )
        needs_model = sorted(set(wanted) & set(NLP_ENTITIES))
        if needs_model and not config.nlp_model:
            raise ValueError(
                f"presidio_entities {needs_model} need a spaCy model: download one "
                "(python -m spacy download en_core_web_lg) and set nlp_model"
            )
        finder = PresidioFinder(wanted, config.language, config.score_threshold, config.nlp_model)
        return [finder], wanted


class PresidioFinder:
    """Runs Presidio's recognizers for some entities over a text (a `Finder` for the pii
    plugin's scanner). Built once per plugin; thread-safe as Presidio's recognizers are."""

    needs: str | None = None
    gate: str | None = None
    digits = False

    def __init__(
        self,
        entities: Sequence[str],
        language: str,
        threshold: float,
        nlp_model: str | None,
    ) -> None:
        _offline_tldextract()
        from presidio_analyzer import RecognizerRegistry

        registry = RecognizerRegistry()
        registry.load_predefined_recognizers(languages=[language])
        self.entities = list(entities)
        self.language = language
        self.threshold = threshold
        self._nlp: Any = None
        if nlp_model is not None:
            self._nlp = _spacy_engine(language, nlp_model)
        use_nlp = self._nlp is not None
        self.recognizers = [
            recognizer
            for recognizer in registry.get_recognizers(language=language, entities=self.entities)
            if use_nlp or type(recognizer).__name__ != "SpacyRecognizer"
        ]

    def find(self, text: str, pos: int = 0, endpos: int | None = None) -> Iterator[Finding]:
        # Pattern recognizers take no NLP artifacts (Presidio's signature says otherwise).
        artifacts: Any = self._nlp.process_text(text, self.language) if self._nlp else None
        for recognizer in self.recognizers:
            wanted = [e for e in recognizer.supported_entities if e in self.entities]
            for result in recognizer.analyze(text, wanted, artifacts) or ():
                if result.score >= self.threshold and result.entity_type in self.entities:
                    yield Finding(result.entity_type, result.start, result.end)


def _offline_tldextract() -> None:
    """Presidio's email recognizer asks tldextract for domain suffixes, which by default
    fetches the public suffix list from the internet on first use. Use the snapshot that
    tldextract ships instead: a gateway must not call out to a third party by itself."""
    import tldextract

    tldextract.tldextract.TLD_EXTRACTOR.suffix_list_urls = ()


def _spacy_engine(language: str, model: str) -> Any:
    import spacy.util

    if not spacy.util.is_package(model):
        raise ValueError(
            f"nlp_model {model!r} is not installed: python -m spacy download {model} "
            "(the plugin never downloads models by itself)"
        )
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    engine = SpacyNlpEngine(models=[{"lang_code": language, "model_name": model}])
    engine.load()
    return engine
