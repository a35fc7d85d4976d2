"""Every numeric option of every subcommand is checked when argparse reads it: a value out of range, not a number
or not finite is argparse's usage error naming the option (status 2), before any work starts."""
import argparse
import subprocess
import sys

import pytest

from hydronet_nb.cli import build_parser
from hydronet_nb.utils import cli_types


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def required_args(sub: argparse.ArgumentParser) -> list[str]:
    args = []
    for action in sub._actions:
        if action.required and action.option_strings:
            args += [action.option_strings[-1], "somewhere"]
        elif action.required:  # a positional (predict's files)
            args.append("somewhere.xyz")
    return args


NUMERIC = [(name, action.option_strings[-1], action.type) for name, sub in subcommands().items()
           for action in sub._actions if action.type in cli_types.TYPES]
#: values each type refuses
BAD = {cli_types.positive_int: ["0", "-5", "1.5", "ten", ""], cli_types.nonneg_int: ["-1", "2.5", "x"],
       cli_types.water_count: ["0", "-3", "3.5", "x"],
       cli_types.positive_float: ["0", "-0.1", "-300", "nan", "inf", "x"],
       cli_types.nonneg_float: ["-0.01", "nan", "-inf", "x"]}
GOOD = {cli_types.positive_int: ("7", 7), cli_types.nonneg_int: ("0", 0), cli_types.water_count: ("3", 3),
        cli_types.positive_float: ("0.25", 0.25), cli_types.nonneg_float: ("0", 0.0)}


def parse(argv):
    return build_parser().parse_args(argv)


def test_every_numeric_option_has_a_checked_type():
    """No option of any subcommand reads a bare int or float; every option with a numeric default has a type here."""
    assert len(NUMERIC) >= 24
    for name, sub in {"": build_parser(), **subcommands()}.items():
        for action in sub._actions:
            assert action.type not in (int, float), (name, action.option_strings)
            if isinstance(action.default, (int, float)) and not isinstance(action.default, bool):
                assert action.type in cli_types.TYPES, (name, action.option_strings)


@pytest.mark.parametrize("command, option, kind", NUMERIC, ids=[f"{c} {o}" for c, o, _ in NUMERIC])
def test_bad_values_exit_2_naming_the_option(capsys, command, option, kind):
    sub = subcommands()[command]
    for bad in BAD[kind]:
        with pytest.raises(SystemExit) as stop:
            parse([command, f"{option}={bad}", *required_args(sub)])
        assert stop.value.code == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith(f"hydronet-nb {command}: error: argument {option}: expected "), last
        assert repr(bad) in last, last
    text, value = GOOD[kind]
    args = parse([command, option, text, *required_args(sub)])
    got = getattr(args, option.lstrip("-").replace("-", "_"))
    assert got == value or got == [value], (option, got)


@pytest.mark.parametrize("argv, option", [
    (["md", "--steps", "-5"], "--steps"), (["md", "--dt", "-0.1"], "--dt"),
    (["md", "--temperature", "-300"], "--temperature"), (["md", "--taut", "0"], "--taut"),
    (["md", "--every", "0"], "--every"), (["md", "--seeds", "0"], "--seeds"),
    (["bench", "--threads", "0"], "--threads"), (["bench", "--clusters", "0"], "--clusters"),
    (["generate", "--workers", "0"], "--workers"), (["generate", "--seed", "-1"], "--seed"),
])
def test_the_issues_cases(capsys, argv, option):
    with pytest.raises(SystemExit) as stop:
        parse([*argv, *required_args(subcommands()[argv[0]])])
    assert stop.value.code == 2
    assert f"argument {option}: expected" in capsys.readouterr().err


def test_the_installed_command_refuses_before_any_work(tmp_path):
    out = tmp_path / "md"
    done = subprocess.run([sys.executable, "-m", "hydronet_nb", "md", "--every", "0", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == \
        "hydronet-nb md: error: argument --every: expected an integer >= 1, got '0'"
    assert not out.exists()
