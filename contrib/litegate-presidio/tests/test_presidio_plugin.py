"""The presidio-pii plugin: Presidio's recognizers inside the pii plugin's machinery,
offline and without an NLP model."""

from __future__ import annotations

import importlib.util

import openai
import pytest

from litegate import ConfigError, Gateway

ITIN = "912-70-1234"
NHS = "943 476 5919"
IBAN = "GB82 WEST 1234 5698 7654 32"


def toml(options: str = "") -> str:
    return f"""
[[pipeline]]
plugin = "auth"
master_key = "sk-test"

[[pipeline]]
plugin = "presidio-pii"
entities = []
presidio_entities = ["US_ITIN", "UK_NHS", "IBAN_CODE", "EMAIL_ADDRESS", "CREDIT_CARD"]
{options}

[[models]]
name = "m"
provider = "mock"
"""


def test_the_entry_point_loads_and_masks_over_http(serve_gateway):
    server = serve_gateway(toml())
    prompt = f"ITIN {ITIN}, NHS {NHS}, IBAN {IBAN}, mail a.b@example.org"
    with openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}]
        )
    # The mock echoes what it received, placeholders included; the plugin restored them.
    assert reply.choices[0].message.content.endswith(f"You said: {prompt}")


def test_redact_shows_what_the_upstream_saw(make_gateway):
    gateway = make_gateway(toml('mode = "redact"'))
    prompt = f"ITIN {ITIN}, NHS {NHS}, IBAN {IBAN}, card 4111 1111 1111 1111"
    reply = gateway.chat_sync(model="m", messages=[{"role": "user", "content": prompt}])
    said = reply["choices"][0]["message"]["content"].split("You said: ")[1]
    assert said == "ITIN <US_ITIN>, NHS <UK_NHS>, IBAN <IBAN_CODE>, card <CREDIT_CARD>"


def test_block_names_presidio_entity_types(make_gateway):
    gateway = make_gateway(toml('modes = { US_ITIN = "block" }'))
    from litegate import GatewayError

    with pytest.raises(GatewayError) as refused:
        gateway.chat_sync(model="m", messages=[{"role": "user", "content": f"itin {ITIN}"}])
    assert refused.value.status == 400 and "US_ITIN" in refused.value.message
    assert ITIN not in refused.value.message


def test_streams_restore_placeholders(make_gateway):
    gateway = make_gateway(toml())
    chunks = gateway.chat_sync(
        model="m", messages=[{"role": "user", "content": f"nhs {NHS}"}], stream=True
    )
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.endswith(f"You said: nhs {NHS}")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('presidio_entities = ["PERSON"]', "need a spaCy model"),
        ('presidio_entities = ["PERSON"]\nnlp_model = "xx_no_such_model"', "not installed"),
        ('presidio_entities = ["SHOE_SIZE"]', "unknown"),
    ],
)
def test_config_errors(options, message):
    text = toml().replace(
        'presidio_entities = ["US_ITIN", "UK_NHS", "IBAN_CODE", "EMAIL_ADDRESS", "CREDIT_CARD"]',
        options,
    )
    with pytest.raises(ConfigError, match=message):
        Gateway.from_toml(text, {})


@pytest.mark.skipif(
    importlib.util.find_spec("en_core_web_sm") is None,
    reason="needs the spaCy model en_core_web_sm (python -m spacy download en_core_web_sm)",
)
def test_nlp_entities_with_a_model(make_gateway):
    gateway = make_gateway(
        toml('presidio_entities = ["PERSON"]\nnlp_model = "en_core_web_sm"\nmode = "redact"')
    )
    reply = gateway.chat_sync(
        model="m", messages=[{"role": "user", "content": "Barack Obama was president."}]
    )
    assert "<PERSON>" in reply["choices"][0]["message"]["content"]
