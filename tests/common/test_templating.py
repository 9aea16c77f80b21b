import pytest

from callbridge.common.templating import MissingTemplateVariableError, render, set_dotted, variables


def test_render_fills_plain_and_dotted_placeholders() -> None:
    context = {"customerName": "Jane", "user": {"phone_number": "+15551234567"}, "count": 3}
    text = render("Hi {{customerName}}, calling {{ user.phone_number }} about {{count}} items", context)
    assert text == "Hi Jane, calling +15551234567 about 3 items"


def test_render_refuses_missing_variables_unless_lenient() -> None:
    with pytest.raises(MissingTemplateVariableError):
        render("Hello {{name}}", {})
    assert render("Hello {{name}}", {}, strict=False) == "Hello {{name}}"


def test_render_leaves_single_braces_alone() -> None:
    assert render("json {a} and {{x}}", {"x": 1}) == "json {a} and 1"


def test_variables_lists_placeholders() -> None:
    assert variables("{{a}} {{b.c}} {{a}}") == {"a", "b.c"}


def test_set_dotted_builds_nested_context() -> None:
    context: dict[str, object] = {}
    set_dotted(context, "user.phone_number", "+1555")
    set_dotted(context, "user.name", "Jane")
    assert context == {"user": {"phone_number": "+1555", "name": "Jane"}}
