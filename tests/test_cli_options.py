"""The vppfed parser tree: help on every option, one meaning per option name, closed sets as choices, groups with
deprecated flat aliases."""
from __future__ import annotations

import argparse
import logging

import pytest

from vppfed.cli import build_parser, main
from vppfed.commands import OPTIMIZERS, OptimizerChoices


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("vppfed",)):
    """(command path, parser) for the parser and every subparser below it (aliases included)."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, path + (name,))


def _options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        yield action


def test_every_option_and_argument_has_help():
    missing = [f"{' '.join(path)} {'/'.join(a.option_strings) or a.dest}"
               for path, parser in _walk(build_parser()) for a in _options(parser) if not a.help]
    assert not missing, f"options without help: {missing}"


def test_the_walk_sees_a_missing_help():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    sub.add_parser("x").add_argument("--bare")
    assert [a.dest for _p, s in _walk(parser) for a in _options(s) if not a.help] == ["bare"]


def test_one_meaning_per_option_name():
    """An option spelt the same in two commands has the same type (a float tolerance is not an int count)."""
    seen: dict[str, tuple[object, str]] = {}
    clashes = []
    for path, parser in _walk(build_parser()):
        for action in _options(parser):
            if action.help == argparse.SUPPRESS:
                continue  # a hidden deprecated spelling
            for opt in action.option_strings:
                kind = (action.type, type(action).__name__)
                if opt in seen and seen[opt][0] != kind:
                    clashes.append(f"{opt}: {seen[opt][1]} vs {' '.join(path)}")
                seen.setdefault(opt, (kind, " ".join(path)))
    assert not clashes
    assert "--tol" not in seen, "--tol is hidden now: --abs-tol (agile compare) or --solver-tol (neighbourhood)"


def test_optimizer_choices_are_the_optimisers_and_match_any_case():
    from vppfed.federates.neighbourhood.optimisers import OPTIMISERS

    assert OPTIMIZERS == OPTIMISERS
    choices = OptimizerChoices(OPTIMIZERS)
    assert "tnc" in choices and "fifty-fifty" in choices and "MILP" in choices and "newton" not in choices
    args = build_parser().parse_args(["neighbourhood", "run", "nb", "--out", "o", "--optimizer", "tnc"])
    assert args.optimizer == "tnc"  # passed on as typed
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["run", "te30", "--optimizer", "newton"])
    assert exc.value.code == 2


@pytest.mark.parametrize("old, new", [(["vv"], ["agile", "vv"]), (["compare"], ["agile", "compare"]),
                                      (["agile-scenario"], ["agile", "scenario"]),
                                      (["agile-plot"], ["agile", "plot"])])
def test_old_agile_commands_are_hidden_aliases_of_the_group(old, new, capsys):
    parser = build_parser()
    old_p = dict(_walk(parser))[("vppfed", *old)]
    new_p = dict(_walk(parser))[("vppfed", *new)]
    assert [a.option_strings for a in _options(old_p)] == [a.option_strings for a in _options(new_p)]
    assert old_p.get_default("func") is new_p.get_default("func")
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listed = {choice.dest for choice in subparsers._choices_actions}  # the commands --help lists
    assert old[0] not in listed and "agile" in listed
    parser.print_help()
    assert "agile" in capsys.readouterr().out


def test_a_deprecated_spelling_warns_naming_the_new_one(tmp_path, caplog):
    csv = tmp_path / "a.csv"
    csv.write_text("Timestep,Residual\n1,0.0\n2,1.0\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="vppfed.cli"):
        assert main(["compare", str(csv), str(csv), "--tol", "1e-9"]) == 0
    text = caplog.text
    assert "'vppfed compare' is deprecated; use 'vppfed agile compare'" in text
    assert "--tol is deprecated; use --abs-tol" in text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vppfed.cli"):
        assert main(["agile", "compare", str(csv), str(csv), "--abs-tol", "1e-9"]) == 0
    assert "deprecated" not in caplog.text


def test_deprecated_option_keeps_its_value_and_the_new_default():
    parser = build_parser()
    assert parser.parse_args(["agile", "compare", "a", "b"]).abs_tol == 1e-5
    assert parser.parse_args(["agile", "compare", "a", "b", "--tol", "2e-3"]).abs_tol == 2e-3
    nb = ["neighbourhood", "run", "nb", "--out", "o"]
    assert parser.parse_args(nb).solver_tol == 100.0
    assert parser.parse_args(nb + ["--tol", "5"]).solver_tol == 5.0
    assert parser.parse_args(nb + ["--solver-tol", "7"]).solver_tol == 7.0
