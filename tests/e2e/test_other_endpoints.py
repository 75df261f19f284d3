"""Images, audio, moderations and rerank go through the same pipeline: the official SDK
against the mock provider and, through the openai adapter, against the fake upstream."""

from __future__ import annotations

import base64

import httpx
import openai
import pytest

KEY = "sk-test-master-0123456789"


@pytest.fixture
def server(serve_gateway, fake_openai):
    return serve_gateway(f"""
[[pipeline]]
plugin = "auth"
master_key = "{KEY}"

[[models]]
name = "mock"
provider = "mock"

[[models]]
name = "up"
provider = "openai"
model = "upstream-model"
api_base = "{fake_openai.base_url}"
api_key = "sk-upstream"
""")


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
        yield client


@pytest.mark.parametrize("model", ["mock", "up"])
def test_images(client, model):
    result = client.images.generate(model=model, prompt="a red square", n=2)
    assert len(result.data) == 2
    assert base64.b64decode(result.data[0].b64_json)


def test_speech_mock_returns_wav(client):
    audio = client.audio.speech.create(model="mock", voice="alloy", input="hello there world")
    assert (
        audio.content.startswith(b"RIFF") and audio.response.headers["content-type"] == "audio/wav"
    )


def test_speech_upstream_bytes_pass_through(client, fake_openai):
    audio = client.audio.speech.create(model="up", voice="alloy", input="hi")
    assert audio.content == b"ID3fake-mp3:hi"
    assert audio.response.headers["content-type"] == "audio/mpeg"
    assert fake_openai.requests[-1]["body"]["model"] == "upstream-model"


def test_transcription_mock(client):
    text = client.audio.transcriptions.create(model="mock", file=("a.wav", b"\x00" * 100))
    assert text.text == "Mock transcription of a.wav (100 bytes)."


def test_transcription_upstream_gets_the_file_as_multipart(client, fake_openai):
    result = client.audio.transcriptions.create(
        model="up",
        file=("clip.mp3", b"\x01\x02" * 50, "audio/mpeg"),
        language="en",
        temperature=0.2,
    )
    assert result.text == "heard 100 bytes"
    sent = fake_openai.requests[-1]["body"]
    assert sent["file"] == ("clip.mp3", "audio/mpeg", b"\x01\x02" * 50)
    assert sent["model"] == "upstream-model" and sent["language"] == "en"
    assert float(sent["temperature"]) == 0.2


def test_transcription_as_text(client):
    text = client.audio.transcriptions.create(
        model="up", file=("a.wav", b"abc"), response_format="text"
    )
    assert "heard 3 bytes" in str(text)


def test_transcription_needs_multipart(server):
    response = httpx.post(
        server.base_url + "/audio/transcriptions",
        json={"model": "mock"},
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_content_type"


@pytest.mark.parametrize("model", ["mock", "up"])
def test_moderations(client, model):
    result = client.moderations.create(model=model, input=["fine", "also fine"])
    assert len(result.results) == 2 and not result.results[0].flagged


def test_mock_moderation_flags_deterministically(client):
    assert client.moderations.create(model="mock", input="please flag-me").results[0].flagged


def test_rerank(server, fake_openai):
    body = {
        "model": "mock",
        "query": "red fox",
        "documents": ["a blue whale", "the red fox"],
        "top_n": 1,
        "return_documents": True,
    }
    with httpx.Client(headers={"authorization": f"Bearer {KEY}"}) as http:
        mock = http.post(server.base_url + "/rerank", json=body).json()
        assert mock["results"] == [
            {"index": 1, "relevance_score": 1.0, "document": {"text": "the red fox"}}
        ]
        upstream = http.post(server.base_url + "/rerank", json={**body, "model": "up"})
        assert upstream.status_code == 200 and fake_openai.requests[-1]["path"] == "/v1/rerank"
        empty = http.post(server.base_url + "/rerank", json={**body, "documents": []})
        assert empty.status_code == 400 and empty.json()["error"]["param"] == "documents"
