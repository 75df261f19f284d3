"""Each recognizer: what it finds, what it leaves alone, and its checksum."""

from __future__ import annotations

import contextlib
import itertools
from unittest import mock

import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from litegate.plugins.pii import detectors
from litegate.plugins.pii.detectors import (
    BUILTIN_ENTITIES,
    Scanner,
    builtin_recognizers,
    custom_recognizer,
    iban_valid,
    luhn_valid,
    shannon_entropy,
    ssn_valid,
)
from litegate.plugins.pii.survey import clusters_python, survey_python

SCANNER = Scanner(builtin_recognizers(BUILTIN_ENTITIES))


def found(text: str) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in SCANNER.scan(text)]


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4111 1111 1111 1111", True),  # Visa test number
        ("5500-0000-0000-0004", True),  # Mastercard
        ("378282246310005", True),  # Amex, 15 digits
        ("6011111111111117", True),
        ("4111 1111 1111 1112", False),  # one digit off
        ("1234567890123", False),
        ("411111111111", False),  # too short
    ],
)
def test_luhn(number, valid):
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("DE89 3704 0044 0532 0130 00", True),
        ("GB82WEST12345698765432", True),
        ("FR1420041010050500013M02606", True),
        ("NL91ABNA0417164300", True),
        ("DE89 3704 0044 0532 0130 01", False),  # checksum
        ("DE89 3704 0044 0532 0130", False),  # Germany's length is 22
        ("XX89370400440532013000", False),  # no such country
    ],
)
def test_iban_checksum(iban, valid):
    assert iban_valid(iban) is valid


@pytest.mark.parametrize(
    ("ssn", "valid"),
    [("123-45-6789", True), ("000-12-3456", False), ("666-12-3456", False),
     ("912-34-5678", False), ("123-00-4567", False), ("123-45-0000", False)],
)  # fmt: skip
def test_ssn_rules(ssn, valid):
    assert ssn_valid(ssn) is valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "mail jane.doe+tag@mail.example.co.uk now",
            [("EMAIL", "jane.doe+tag@mail.example.co.uk")],
        ),
        ("card 4111-1111-1111-1111.", [("CREDIT_CARD", "4111-1111-1111-1111")]),
        ("card 4111 1111 1111 1112", []),  # fails Luhn, and is no phone number either
        ("IBAN GB82 WEST 1234 5698 7654 32", [("IBAN", "GB82 WEST 1234 5698 7654 32")]),
        ("ssn 123-45-6789", [("US_SSN", "123-45-6789")]),
        ("ssn 666-45-6789", []),
        ("from 10.0.0.254 to 8.8.8.8", [("IP_ADDRESS", "10.0.0.254"), ("IP_ADDRESS", "8.8.8.8")]),
        ("not an ip 999.1.1.1 or 1.2.3", []),
        ("version 1.2.3.4.5", []),
        (
            "v6 2001:db8:85a3::8a2e:370:7334 and ::1",
            [("IP_ADDRESS", "2001:db8:85a3::8a2e:370:7334"), ("IP_ADDRESS", "::1")],
        ),
        ("at 12:30:45, std::vector, a::b::c", []),
        (
            "call (212) 736-5000 or +44 20 7946 0958",
            [("PHONE", "(212) 736-5000"), ("PHONE", "+44 20 7946 0958")],
        ),
        ("order 12345 shipped in 2024", []),
        ("db postgres://app:s3cr3t@db.internal:5432/x", [("URL_CREDENTIALS", "app:s3cr3t")]),
        ("see https://example.com/a:b@c", []),  # a path, not credentials
        ("key sk-proj-abcdefghij0123456789ABCD", [("SECRET", "sk-proj-abcdefghij0123456789ABCD")]),
        (
            "key sk-ant-api03-abcdefghij0123456789",
            [("SECRET", "sk-ant-api03-abcdefghij0123456789")],
        ),
        ("AKIAIOSFODNN7EXAMPLE", [("SECRET", "AKIAIOSFODNN7EXAMPLE")]),
        (
            "tok ghp_0123456789abcdefghijABCDEFGHIJ012345",
            [("SECRET", "ghp_0123456789abcdefghijABCDEFGHIJ012345")],
        ),
        ("slack xoxb-1234567890-abcdefghij", [("SECRET", "xoxb-1234567890-abcdefghij")]),
        (
            "g AIzaSyA1234567890abcdefghijklmnopqrstuv",
            [("SECRET", "AIzaSyA1234567890abcdefghijklmnopqrstuv")],
        ),
        ("a task-list item, ask-me-anything", []),
        (
            "random Zx8kQ2mN5pR7tV9wY1aB3cD5eF7gH9jK",
            [("SECRET", "Zx8kQ2mN5pR7tV9wY1aB3cD5eF7gH9jK")],
        ),
        ("sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", []),
        ("getUserAccountSettingsByIdentifierAndName", []),
    ],
)
def test_what_the_scanner_finds(text, expected):
    assert found(text) == expected


def test_private_key_blocks():
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----"
    assert found(f"here: {key} done") == [("SECRET", key)]


def test_findings_never_overlap_and_come_in_order():
    text = "x@y.io 4111111111111111 192.168.0.1 x@y.io"
    findings = SCANNER.scan(text)
    assert [f.start for f in findings] == sorted(f.start for f in findings)
    for first, second in itertools.pairwise(findings):
        assert first.end <= second.start


def test_entropy():
    assert shannon_entropy("aaaa") == 0
    assert shannon_entropy("abcd") == 2
    without = Scanner(builtin_recognizers(["SECRET"], min_entropy=0))
    assert without.scan("random Zx8kQ2mN5pR7tV9wY1aB3cD5eF7gH9jK") == []


def test_only_the_entities_asked_for():
    emails = Scanner(builtin_recognizers(["EMAIL"]))
    assert [f.entity for f in emails.scan("a@b.io 123-45-6789")] == ["EMAIL"]


def test_unknown_entities_and_bad_custom_ones_are_config_errors():
    with pytest.raises(ValueError, match="unknown entities"):
        builtin_recognizers(["EMAIL", "PASSPORT"])
    with pytest.raises(ValueError, match="upper-case"):
        custom_recognizer("emp_id", "EMP-[0-9]+")
    with pytest.raises(ValueError, match="upper-case"):
        custom_recognizer("EMP1", "EMP-[0-9]+")  # digits would look like a placeholder
    with pytest.raises(ValueError, match="bad pattern"):
        custom_recognizer("EMP", "EMP-[0-9")
    with pytest.raises(ValueError, match="empty string"):
        custom_recognizer("EMP", "x*")


def test_phone_without_phonenumbers_is_a_clear_config_error(monkeypatch):
    import sys

    from litegate import ConfigError, Gateway

    monkeypatch.setitem(sys.modules, "phonenumbers", None)
    toml = '[[pipeline]]\nplugin = "pii"\n[[models]]\nname = "m"\nprovider = "mock"\n'
    with pytest.raises(ConfigError, match=r"litegate\[pii\]"):
        Gateway.from_toml(toml, {})
    Gateway.from_toml(toml.replace('"pii"', '"pii"\nentities = ["EMAIL"]'), {})


# The shortcuts (`Recognizer.head`, `gate`, `min_digits`, `cluster_needs`) only skip work:
# a scanner without them finds exactly the same values.
_PLAIN = Scanner(
    [
        attrs.evolve(
            r, head=None, gate=None, anchor=None, starts_with=None, min_digits=0, cluster_needs=None
        )
        for r in builtin_recognizers(BUILTIN_ENTITIES)
    ]
)
_PIECES = [
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "XDE89370400440532013000",
    "ghp_" + "a1B2" * 9,
    "xoxb-123456789012-abcdef",
    "sk-proj-" + "Ab1" * 8,
    "Zx9" * 12 + "Qw",
    "aK3mP9xR2vL7nQ4wT8yB1cF6hJ0dG5sE",
    "2001:db8::1",
    "fe80::1%eth0",
    "+1 415 555 0100",
    "10.0.0.1",
    "4111 1111 1111 1111",
    "4111-1111-1111-111",
    "123-45-6789",
    "123 45 678",
    "1.2.3",
    "(212) 736-5000",
    "736-500",
    "jane@example.com",
    "AB12",
    "٣٤",  # digits that are not ASCII
    # Around the anchors (a literal is looked for only next to its rarest character):
    "rk_live_" + "a1B2" * 5,
    "AKIA" + "A1B2" * 4,
    "AIza" + "a1B2" * 9,
    "glpat-" + "a1B2" * 6,
    "https://ann:s3cret@db.example",
    "eyJhbGciOiJI.eyJzdWIiOiIx.abcdefgh1",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
    "--_--_",
    # Random tokens at the entropy check's edges: 30 characters and "==", one digit at
    # the 15th or 16th place.
    "aK3mP9xR2vL7nQ4wT8yB1cF6hJ0dG5==",
    "aKmPxRvLnQwTyBc7FhJdGsEuIoYtWzX",
    "aKmPxRvLnQwTyB7cFhJdGsEuIoYtWzX",
]
_FILLER = st.text(alphabet=st.sampled_from(list("aZ 9_-:.@/=+\nKSJz")), max_size=8)


@pytest.mark.parametrize("first_pass", ["as installed", "python"])
@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), _FILLER), max_size=12).map("".join))
@example("123 45 678٣٤")  # the SSN's last digit is past the last ASCII one
def test_head_and_gate_shortcuts_find_the_same_values(first_pass, text):
    """Also with the Python `survey` where the compiled one is installed (CI: both)."""
    with contextlib.ExitStack() as stack:
        if first_pass == "python":
            stack.enter_context(mock.patch.object(detectors, "survey", survey_python))
            stack.enter_context(mock.patch.object(detectors, "clusters", clusters_python))
        assert SCANNER.scan(text) == _PLAIN.scan(text)


@pytest.mark.parametrize(
    "key",
    [
        "aK3mP9xR2vL7nQ4wT8yB1cF6hJ0dG5==",  # 30 token characters and padding
        "aKmPxRvLnQwTyB7cFhJdGsEuIoYtWz==",  # and the only digit 15th: 15 after it
        "aKmPxRvLnQwTyBc7FhJdGsEuIoYtWz==",  # and the only digit 16th: 15 before it
        "aKmPxRvLnQwTyBcD7FhJdGsEuIoYtWzXq",  # the only digit 16th
        "aKmPxRvLnQwTyBcD" + "FhJdGsEuIoYtWzX7",  # the only digit last
    ],
)
def test_random_keys_are_found_wherever_their_digits_are(key):
    assert found(f"the key {key} is set; 12 34 5") == [("SECRET", key)]


def test_a_literal_after_many_anchor_characters_is_still_found():
    # "-" appears often before the key: past a few, one substring search finds the literal.
    key = "sk-proj-" + "Ab1" * 8
    assert found("- a - b - c - d - e - f " + key) == [("SECRET", key)]
    assert found("- a - b - c - d - e - f, no key here") == []


def test_a_value_after_the_last_digit_is_still_found():
    # The IBAN's check digits are the text's last digits; the key's tail has no digit.
    text = "x 1 " + "y" * 300 + " DE89 3704 0044 0532 0130 00 and then words"
    assert found(text) == [("IBAN", "DE89 3704 0044 0532 0130 00")]
    key = "Zx9" + "QwErTyUiOpAsDfGhJkLzXcVbNmQwErTy"
    assert found(f"a 1 b {key} end") == [("SECRET", key)]


@pytest.mark.parametrize("keyed", [True, False], ids=["string-hash", "sha256"])
def test_long_texts_findings_are_remembered_by_digest(monkeypatch, keyed):
    """A conversation's earlier messages come back every turn: their findings are looked up
    (by a digest, holding no text or value), not scanned again; short texts are scanned."""
    from litegate.plugins.pii import detectors

    monkeypatch.setattr(detectors, "KEYED_STRING_HASH", keyed)

    scans = []

    class Counting(Scanner):
        def scan(self, text):
            scans.append(text)
            return super().scan(text)

    scanner = Counting(builtin_recognizers(BUILTIN_ENTITIES))
    long_text = "Please write to ann@example.test about the invoice. " * 8
    first = scanner.scan_remembered(long_text)
    again = scanner.scan_remembered(long_text)
    assert next(long_text[f.start : f.end] for f in again) == "ann@example.test"
    assert again == first and len(scans) == 1
    assert scanner.scan_remembered(long_text + " ") == first and len(scans) == 2  # other text
    scanner.scan_remembered("short: bob@example.test")
    scanner.scan_remembered("short: bob@example.test")
    assert len(scans) == 4  # never remembered
    for key in scanner._remembered:  # a hash and a length, or a digest: never text
        assert isinstance(key, bytes) if not keyed else all(isinstance(p, int) for p in key)
    monkeypatch.setattr(detectors, "REMEMBERED", 2)
    for n in range(5):
        scanner.scan_remembered(long_text + "!" * n)
    assert len(scanner._remembered) == 2


@pytest.mark.parametrize(("seed", "keyed"), [(None, True), ("random", True), ("0", False)])
def test_a_predictable_string_hash_is_not_trusted_to_remember_findings(seed, keyed):
    """With a fixed PYTHONHASHSEED anyone can compute Python's string hash, and could make a
    text whose remembered findings answer for another's: then findings go by SHA-256."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    if seed is not None:
        env["PYTHONHASHSEED"] = seed
    code = "from litegate.plugins.pii import detectors as d; print(d.KEYED_STRING_HASH)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == str(keyed), out.stderr
