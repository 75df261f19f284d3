"""The Call's parts that plugins rely on."""

from __future__ import annotations

import attrs

from litegate.call import Limits, Principal


def test_a_principal_for_a_call_copies_every_field_and_owns_its_metadata():
    # Every field set to something other than its default: a field added to Principal
    # and forgotten in `for_call` shows here.
    values = {
        "id": "key-1",
        "kind": "virtual",
        "team": "team-a",
        "role": "team_admin",
        "metadata": {"tier": "gold"},
        "user": "user-1",
        "org": "org-1",
        "models": ("gpt-4o*",),
        "limits": Limits(rpm=10, tpm=1000, max_parallel=2),
        "allowed_parameters": frozenset({"api_version"}),
    }
    assert set(values) == {field.name for field in attrs.fields(Principal)}
    original = Principal(**values)
    copy = original.for_call()
    assert copy is not original
    assert attrs.asdict(copy, recurse=False) == attrs.asdict(original, recurse=False)
    copy.metadata["added"] = True
    assert original.metadata == {"tier": "gold"}
