"""The YAML loader: lines for every key, safe types, and clean errors for any input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autohub.errors import ConfigError, DefinitionError
from autohub.yamlfile import YamlSyntaxError, load_documents


def test_lines_are_recorded_for_every_key() -> None:
    (document,) = load_documents("a: 1\nb:\n  - x: 2\n    y: 3\n", "f.yaml")
    assert document.line_of(("b", 0, "y")) == 4
    assert document.line_of(("b", 0, "missing")) == 3


def test_duplicate_keys_are_an_error_not_an_overwrite() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        load_documents("name: a\nsteps: []\nname: b\n", "f.yaml")
    assert str(caught.value.problem) == (
        "f.yaml:3: YAML syntax error: duplicate key 'name' (first given on line 1)"
    )


def test_yaml_1_1_surprises_stay_strings() -> None:
    (document,) = load_documents("country: no\nswitch: on\nday: 2024-01-01\nok: true\n", "f")
    assert document.data == {"country": "no", "switch": "on", "day": "2024-01-01", "ok": True}


def test_python_tags_are_refused() -> None:
    with pytest.raises(YamlSyntaxError, match=r"f\.yaml:1"):
        load_documents("x: !!python/object/apply:os.system ['echo hi']\n", "f.yaml")


def test_alias_bombs_are_refused() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for index in range(1, 8):
        previous = chr(ord("a") + index - 1)
        name = chr(ord("a") + index)
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 10)}]")
    with pytest.raises(YamlSyntaxError, match="document too large"):
        load_documents("\n".join(lines) + "\n", "bomb.yaml")


yaml_like_text = st.one_of(
    st.text(max_size=300),
    st.lists(
        st.sampled_from(
            [
                "name: x",
                "steps:",
                "  - id: a",
                "    shell: [echo]",
                "  - ",
                ":",
                "- -",
                "{",
                "[",
                "]",
                "}",
                "&a",
                "*a",
                "!!python/name:os.system",
                "'",
                '"',
                "\t",
                "---",
                "timeout: 5s",
                "needs: [b",
                "? x",
                "%YAML 1.1",
                "|",
                ">",
                "#",
                "\x00",
                "\ufeff",
                "automations:",
                "  hello:",
                "    steps: [{id: a, shell: [x]}]",
                "params: {a: 1}",
            ]
        ),
        max_size=25,
    ).map("\n".join),
)


@settings(max_examples=300, deadline=None)
@given(text=yaml_like_text)
def test_any_text_loads_or_fails_with_a_located_problem(text: str) -> None:
    try:
        load_documents(text, "fuzz.yaml")
    except YamlSyntaxError as exc:
        assert exc.problem.file == "fuzz.yaml"
        assert exc.problem.message


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=yaml_like_text)
def test_any_definition_file_gives_a_registry_or_a_clean_error(tmp_path: Path, text: str) -> None:
    from autohub.config import load_config
    from autohub.registry.loader import load_registry

    (tmp_path / "autohub.yaml").write_text("project: fuzz\n")
    directory = tmp_path / "automations"
    directory.mkdir(exist_ok=True)
    (directory / "fuzz.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_registry(load_config(tmp_path / "autohub.yaml", environ={}))
    except DefinitionError as exc:
        assert exc.problems
        assert all(p.file == "automations/fuzz.yaml" for p in exc.problems)
    except ConfigError:
        pytest.fail("a definition file must never be reported as a config error")
