"""The property operators the emulator applies to user and group profiles (Identify docs, §3.4)."""

from __future__ import annotations

import pytest

from amplitude_emulator.profiles import (
    GROUP_OPERATORS,
    ProfileError,
    normalize_operations,
    update_properties,
)


def updated(start: dict, properties: dict, allowed: tuple[str, ...] | None = None) -> dict:
    profile = dict(start)
    if allowed is None:
        update_properties(profile, properties)
    else:
        update_properties(profile, properties, allowed)
    return profile


def test_plain_keys_mean_set():
    assert updated({"a": 1}, {"a": 2, "b": "x"}) == {"a": 2, "b": "x"}


def test_set_overwrites():
    assert updated({"plan": "free"}, {"$set": {"plan": "pro"}}) == {"plan": "pro"}


def test_set_once_only_sets_absent_keys():
    result = updated({"first_seen": "2024"}, {"$setOnce": {"first_seen": "2025", "source": "ad"}})
    assert result == {"first_seen": "2024", "source": "ad"}


def test_add_increments_from_zero_and_from_existing():
    result = updated(
        {"logins": 3, "label": "x"}, {"$add": {"logins": 2, "credits": 1.5, "label": 1}}
    )
    assert result == {"logins": 5, "credits": 1.5, "label": 1}


def test_add_refuses_non_numbers():
    with pytest.raises(ProfileError):
        normalize_operations({"$add": {"logins": "2"}})


def test_append_adds_values_at_the_end_and_wraps_scalars():
    result = updated(
        {"tags": ["a"], "one": "x"}, {"$append": {"tags": ["b", "a"], "one": "y", "new": 1}}
    )
    assert result == {"tags": ["a", "b", "a"], "one": ["x", "y"], "new": [1]}


def test_prepend_adds_values_at_the_front():
    assert updated({"tags": ["a"]}, {"$prepend": {"tags": ["b", "c"]}}) == {"tags": ["b", "c", "a"]}


def test_unset_removes_keys():
    assert updated({"a": 1, "b": 2}, {"$unset": {"a": "-", "missing": "-"}}) == {"b": 2}


def test_pre_insert_adds_only_absent_values_at_the_front_in_order():
    result = updated({"tags": ["b"]}, {"$preInsert": {"tags": ["a", "b", "c"]}})
    assert result == {"tags": ["a", "c", "b"]}


def test_post_insert_adds_only_absent_values_at_the_end_in_order():
    result = updated({"tags": ["b"]}, {"$postInsert": {"tags": ["a", "b", "c"], "new": "x"}})
    assert result == {"tags": ["b", "a", "c"], "new": ["x"]}


def test_remove_drops_every_instance_of_the_values():
    result = updated({"tags": ["a", "b", "a", "c"]}, {"$remove": {"tags": ["a", "c"], "gone": "x"}})
    assert result == {"tags": ["b"]}


def test_clear_all_empties_the_profile_before_other_operators():
    result = updated({"a": 1, "b": 2}, {"$clearAll": "-", "$set": {"c": 3}})
    assert result == {"c": 3}


def test_operators_cannot_be_mixed_with_plain_keys():
    with pytest.raises(ProfileError, match="mixed"):
        normalize_operations({"$set": {"a": 1}, "b": 2})


def test_a_property_under_two_operators_is_refused():
    with pytest.raises(ProfileError, match="more than one operator"):
        normalize_operations({"$set": {"a": 1}, "$add": {"a": 1}})


def test_operator_operand_must_be_an_object():
    with pytest.raises(ProfileError):
        normalize_operations({"$set": ["a"]})


def test_unknown_operator_is_refused():
    with pytest.raises(ProfileError, match="unsupported"):
        normalize_operations({"$multiply": {"a": 2}})


def test_refused_update_leaves_the_profile_untouched():
    profile = {"a": 1}
    with pytest.raises(ProfileError):
        update_properties(profile, {"$set": {"a": 2}, "b": 1})
    assert profile == {"a": 1}


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ({"$set": {"tier": "gold"}}, {"tier": "gold", "seats": 5, "tags": ["x"]}),
        (
            {"$setOnce": {"tier": "gold", "region": "eu"}},
            {"tier": "silver", "seats": 5, "tags": ["x"], "region": "eu"},
        ),
        ({"$add": {"seats": 3}}, {"tier": "silver", "seats": 8, "tags": ["x"]}),
        ({"$append": {"tags": "y"}}, {"tier": "silver", "seats": 5, "tags": ["x", "y"]}),
        ({"$prepend": {"tags": "y"}}, {"tier": "silver", "seats": 5, "tags": ["y", "x"]}),
        ({"$unset": {"tier": "-"}}, {"seats": 5, "tags": ["x"]}),
    ],
)
def test_group_profiles_support_the_six_documented_operators(operation, expected):
    start = {"tier": "silver", "seats": 5, "tags": ["x"]}
    assert updated(start, operation, GROUP_OPERATORS) == expected


@pytest.mark.parametrize("operator", ["$preInsert", "$postInsert", "$remove", "$clearAll"])
def test_group_profiles_refuse_operators_the_group_docs_do_not_list(operator):
    operand = "-" if operator == "$clearAll" else {"tags": "x"}
    with pytest.raises(ProfileError, match="unsupported"):
        normalize_operations({operator: operand}, GROUP_OPERATORS)
