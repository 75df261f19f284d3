import pytest

from litegate.config_types import Secret, parse_byte_size, parse_duration
from litegate.interpolate import interpolate


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("10m", 600), ("1h", 3600), ("2.5s", 2.5), (30, 30), ("7", 7), ("1d", 86400)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["12x", "", "ms", -1, True, [1]])
def test_bad_durations(bad):
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"), [("16MiB", 16 * 1024**2), ("1KB", 1000), ("512", 512), (2048, 2048)]
)
def test_sizes(text, size):
    assert parse_byte_size(text) == size


def test_bad_size():
    with pytest.raises(ValueError, match='expected a size like "16MiB", got "huge"'):
        parse_byte_size("huge")


def test_secret_hides_its_value():
    secret = Secret("sk-abc")
    assert "sk-abc" not in repr(secret) and "sk-abc" not in str(secret)
    assert secret.reveal() == "sk-abc"
    assert not Secret("")


def test_interpolation():
    errors: list[str] = []
    env = {"A": "1", "EMPTY": ""}
    value = {"x": "${A}-${B:-two}-$${A}", "y": ["${EMPTY:-d}"], "z": 3}
    assert interpolate(value, env, "", errors) == {"x": "1-two-${A}", "y": ["d"], "z": 3}
    assert errors == []
    interpolate({"k": ["${MISSING}"]}, env, "", errors)
    assert errors[0].startswith("k[0]: environment variable MISSING is not set")
