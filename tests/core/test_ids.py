import re

from litegate.ids import random_id


def test_random_ids_are_32_hex_characters_and_do_not_repeat():
    ids = {random_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)
