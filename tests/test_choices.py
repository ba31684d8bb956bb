"""Each fixed choice is written once (ragkit.choices) and read by the config, the stages, the CLI's help and the
README."""

import re
import typing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragkit import choices
from ragkit.cli import app
from ragkit.config import AskConfig, SearchConfig

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
runner = CliRunner()


def _literal(cls, name: str) -> tuple:
    return typing.get_args(typing.get_type_hints(cls)[name])


@pytest.mark.parametrize("cls, field, family", [
    (SearchConfig, "mode", choices.MODES), (SearchConfig, "fusion", choices.FUSIONS),
    (SearchConfig, "normalization", choices.NORMALIZATIONS), (SearchConfig, "route", choices.ROUTES), (AskConfig, "strategy", choices.STRATEGIES),
    (AskConfig, "chain", choices.CHAINS), (AskConfig, "expand", choices.EXPANSIONS),
    (AskConfig, "refuse", choices.REFUSALS)])
def test_the_config_accepts_exactly_the_written_choices(cls, field, family):
    assert _literal(cls, field) == tuple(family)


def test_the_stages_check_the_same_choices():
    from ragkit.generation.chains import CHAINS
    from ragkit.retrieval.expansion import EXPANSIONS
    from ragkit.retrieval.fusion import METHODS
    from ragkit.retrieval.search import MODES
    from ragkit.retrieval.transforms import STRATEGIES

    assert (MODES, STRATEGIES, EXPANSIONS, METHODS) == tuple(
        tuple(f) for f in (choices.MODES, choices.STRATEGIES, choices.EXPANSIONS, choices.FUSIONS))
    assert set(CHAINS) == set(choices.CHAINS) - {"auto"}   # auto is resolved before a chain runs


@pytest.mark.parametrize("command, option, family", [
    ("ask", "--strategy", choices.STRATEGIES), ("ask", "--chain", choices.CHAINS),
    ("ask", "--expand", choices.EXPANSIONS), ("search", "--mode", choices.MODES)])
def test_help_lists_every_choice_with_what_it_does(command, option, family):
    shown = " ".join(runner.invoke(app, [command, "--help"]).stdout.split())
    shown = re.sub(r"(\w-) (\w)", r"\1\2", shown)   # "step-back" wrapped after its hyphen
    for name, what in family.items():
        assert f"{name} ({what})" in shown, (option, name)


@pytest.mark.parametrize("family", [choices.MODES, choices.STRATEGIES, choices.CHAINS, choices.EXPANSIONS,
                                    choices.ROUTES])
def test_the_readme_names_every_choice(family):
    fences = re.findall(r"```.*?```", README, flags=re.S)
    prose = re.sub(r"```.*?```", " ", README, flags=re.S)
    spans = " ".join(fences + re.findall(r"`([^`]+)`", prose))   # code: where the README shows what to type
    for name in family:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", spans), name


def test_help_list_reads_as_a_sentence():
    assert choices.help_list({"a": "x", "b": "", "c": "z"}) == "a (x), b or c (z)"
    assert choices.help_list({"a": "x"}, described=False) == "a"


def test_the_command_line_options_take_the_same_choices():
    from ragkit.cli.common import Chain, Expand, Mode, Strategy

    assert [typing.get_args(t) for t in (Mode, Strategy, Chain, Expand)] == [
        tuple(f) for f in (choices.MODES, choices.STRATEGIES, choices.CHAINS, choices.EXPANSIONS)]
    bad = runner.invoke(app, ["ask", "q", "--strategy", "nope"])
    assert bad.exit_code == 2 and "self-query" in bad.stderr   # click lists the choices it reads
