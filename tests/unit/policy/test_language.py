"""The rule language: syntax errors with positions, unknown names, types, and what is refused."""

from __future__ import annotations

import pytest

from frisk.policy import RuleSyntaxError, parse_rule
from frisk.policy.nodes import Compare, Const, InList, Var, variables_of

VARS = {
    "amount": "number",
    "payee_id": "string",
    "payer_id": "string",
    "device_id": "string",
    "channel": "string",
    "txn_count_by_payer_1h": "number",
    "score": "number",
}
LISTS = {"mule_accounts": "block", "vip_payers": "allow"}


def error_of(expression: str) -> RuleSyntaxError:
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(expression, VARS, LISTS)
    return info.value


def test_a_rule_parses_into_a_typed_tree() -> None:
    node = parse_rule("amount > 5000", VARS)
    assert node == Compare(">", Var("amount", "number"), Const(5000.0, "number"))
    both = parse_rule('txn_count_by_payer_1h > 10 && payee_id in blocklist("mule_accounts")', VARS)
    assert variables_of(both) == ("txn_count_by_payer_1h", "payee_id")


def test_list_membership_names_the_list_and_its_kind() -> None:
    node = parse_rule('payer_id in allowlist("vip_payers")', VARS, LISTS)
    assert node == InList(Var("payer_id", "string"), "vip_payers", "allow")


@pytest.mark.parametrize(
    ("expression", "line", "column"),
    [
        ("amount >", 1, 9),
        ("amount > 5000 &&", 1, 17),
        ("amount >> 3", 1, 9),
        ("amount > 1 &&\n (score > ", 2, 10),
        ('payee_id == "unterminated', 1, 13),
    ],
)
def test_syntax_errors_carry_line_and_column(expression: str, line: int, column: int) -> None:
    err = error_of(expression)
    assert (err.line, err.column) == (line, column)
    assert "syntax error" in str(err)
    assert str(err).splitlines()[-1].index("^") == 4 + column - 1


def test_unknown_names_are_named_with_close_matches() -> None:
    err = error_of("txn_count_by_payer_1 > 10")
    assert "'txn_count_by_payer_1'" in str(err)
    assert "did you mean 'txn_count_by_payer_1h'" in str(err)
    assert (err.line, err.column) == (1, 1)
    assert "no list named 'mule_acounts'" in str(error_of('payee_id in blocklist("mule_acounts")'))
    assert "did you mean 'mule_accounts'" in str(error_of('payee_id in blocklist("mule_acounts")'))


@pytest.mark.parametrize(
    ("expression", "message", "column"),
    [
        ('amount > "x"', "cannot compare a number with a string", 10),
        ('channel > "card"', "compares numbers only", 11),
        ("amount + payee_id > 1", "+ needs numbers", 10),
        ("amount && score > 1", "&& needs true/false", 1),
        ("!amount", "! needs true/false", 2),
        ("amount", "must be true or false", 1),
        ('amount in blocklist("mule_accounts")', "list members are strings", 1),
        ('payer_id in blocklist("vip_payers")', "is an allow list, not block", 13),
        ('payee_id in ["a", 1]', "must hold string literals", 19),
    ],
)
def test_type_errors_are_refused_with_positions(expression: str, message: str, column: int) -> None:
    err = error_of(expression)
    assert message in str(err)
    assert err.column == column


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("payee_id.__class__ == 'x'", "field access"),
        ("payee_id.size() > 1", "unknown method size()"),
        ("device_id[0] == 'a'", "indexing"),
        ("[1, 2].all(x, x > 0)", "macro all()"),
        ("[1, 2].exists(x, x > amount)", "macro exists()"),
        ("[1, 2].map(x, x * 2) == [2, 4]", "macro map()"),
        ("has(payee_id.x)", "macro has()"),
        ("import os", "syntax error"),
        ("while (true) {}", "not allowed"),
        ("__import__('os') == 1", "unknown function __import__()"),
        ("{'a': 1} == {'a': 1}", "map literals"),
        ("amount % 2 == 0", "% is not allowed"),
        ("amount > 1 ? true : false", "conditional"),
        ("device_id == null", "null is not allowed"),
        ("size(payee_id) > 3", "unknown function size()"),
    ],
)
def test_unsafe_or_unbounded_constructs_are_refused(expression: str, message: str) -> None:
    assert message in str(error_of(expression))


def test_size_is_bounded() -> None:
    assert "longer than" in str(error_of("amount > 1 && " * 400 + "true"))
    assert "more than" in str(error_of(" || ".join(["amount > 1"] * 150)))


def test_numbers_are_doubles_and_literals_decode_escapes() -> None:
    assert parse_rule("amount > 0x10", VARS) == Compare(
        ">", Var("amount", "number"), Const(16.0, "number")
    )
    node = parse_rule(r'payee_id == "a\"b"', VARS)
    assert isinstance(node, Compare)
    assert node.right == Const('a"b', "string")
