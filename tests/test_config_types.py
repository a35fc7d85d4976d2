"""Every config reader against values of the wrong type (hypothesis) and the concrete cases of issue 21.

A value of a kind that a field does not take (a string for an integer, a float for an int, a number for a path, a
bare string for a list, null where null is not allowed) must end in ConfigError naming the file and the key; a value
of a kind it takes is read or refused with a ConfigError naming the file. Never a TypeError, AttributeError or
KeyError. Which kinds a field takes is worked out here from its annotation by a table of this test's own.
"""
import dataclasses
import json
import os
import typing
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hydronet_nb.cli import main
from hydronet_nb.errors import ConfigError
from hydronet_nb.finetune import command as finetune
from hydronet_nb.finetune import studies as force_studies
from hydronet_nb.finetune.rounds import Schedule
from hydronet_nb.md import study as md_study
from hydronet_nb.model.schnet import SchNetConfig
from hydronet_nb.train import pretrain
from hydronet_nb.train.config import TrainConfig
from hydronet_nb.transfer import command as transfer
from hydronet_nb.transfer import studies as transfer_studies

FUZZ = settings(max_examples=int(os.environ.get("HYDRONET_NB_FUZZ_EXAMPLES", 60)), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True)


def fields_of(cls, prefix: str, skip=()) -> dict:
    """``{"section.key": annotation}`` of a dataclass, nested dataclasses (training.ipu) included."""
    out = {}
    for name, hint in typing.get_type_hints(cls).items():
        if name in skip:
            continue
        out[f"{prefix}.{name}"] = hint
        if dataclasses.is_dataclass(hint):
            out |= fields_of(hint, f"{prefix}.{name}")
    return out


def sections(**parts) -> dict:
    """Fields of whole sections, each section itself a mapping."""
    out = {}
    for name, cls in parts.items():
        out[name] = dict | None
        out |= fields_of(cls, name)
    return out


#: reader, the smallest valid config, and its fields with their annotations
READERS = {
    "pretrain": (pretrain.read_config, {"output": "out"},
                 {"output": str, **sections(data=pretrain.DataSettings, model=SchNetConfig, training=TrainConfig)}),
    "finetune": (finetune.read_config, {"output": "out"},
                 {"output": str, "start": str, **sections(data=finetune.DataSettings, model=SchNetConfig,
                                                          training=TrainConfig, schedule=Schedule,
                                                          active=finetune.ActiveSettings)}),
    "transfer": (transfer.read_config, {"output": "out"},
                 {"output": str, "start": str, "samples": int | None, "sample_seed": int | None,
                  **sections(data=transfer.DataSettings, model=SchNetConfig, training=TrainConfig)}),
    "force-study": (force_studies.read_study_config, {"base": "base.yaml", "output": "out", "selection": {}},
                    {"base": str, "output": str, "val": int,
                     **sections(create_graph=force_studies.CreateGraphStudy,
                                data_efficiency=force_studies.DataEfficiencyStudy),
                     **fields_of(force_studies.SelectionStudy, "selection", skip=("schedule",)),
                     **fields_of(Schedule, "selection.schedule")}),
    "transfer-study": (transfer_studies.read_study_config,
                       {"base": "base.yaml", "output": "out", "data_efficiency": {"sizes": [5], "seeds": [1]},
                        "published": {"sizes": [5], "seeds": [1]}},
                       {"base": str, "output": str, "val": int, "epochs": dict | None,
                        **fields_of(TrainConfig, "data_efficiency.training"),
                        **fields_of(transfer.DataSettings, "published.data"),
                        **fields_of(transfer_studies.Strategies, "strategies", skip=("use",)),
                        **fields_of(TrainConfig, "strategies.use.frozen")}),
    "md-study": (md_study.read_study_config, {"output": "out", "grid": {}, "long": {}},
                 {"output": str, "batched": bool, "keep": list | None,
                  **fields_of(md_study.RunPart, "grid", skip=("model", "size")),
                  **fields_of(md_study.RunPart, "long", skip=("models", "sizes"))}),
}


def kinds_taken(hint) -> set:
    """The kinds of YAML value a field of annotation ``hint`` takes (this test's own table)."""
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, type(int | None)) else (hint,)
    kinds = set()
    for m in members:
        base = typing.get_origin(m) or m
        if m is type(None):
            kinds.add("null")
        elif base is bool:
            kinds.add("bool")
        elif base is int:
            kinds.add("int")
        elif base is float:
            kinds |= {"int", "float", "number text"}  # `1e-3`: YAML 1.1 reads a string; float fields take it
        elif base in (str, Path):
            kinds |= {"text", "number text"}
        elif base in (list, tuple):
            kinds.add("list")
        elif base is dict or dataclasses.is_dataclass(base):
            kinds.add("mapping")
    return kinds


VALUES = {  # small positive numbers often, so that a wrong type is not hidden by a range check
    "int": st.integers(1, 20) | st.integers(-10**6, 10**6),
    "float": st.integers(0, 20).map(lambda n: n + 0.5)
    | st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: v != int(v) if v == v and abs(v) < 1e300
                                                            else True),
    "bool": st.booleans(),
    "text": st.text("abcdefghijklmnopqrstuvwxyz-_/", min_size=1, max_size=8),
    "number text": st.sampled_from(["1e-3", "5e-4", "2E+2", "-1e3", "3e0"]),
    "null": st.none(),
    "list": st.lists(st.integers(-3, 5) | st.text("abc", max_size=3), max_size=3),
    "mapping": st.dictionaries(st.text("abc", min_size=1, max_size=3), st.integers(-3, 5), max_size=2),
}


def put(config: dict, key: str, value) -> dict:
    """``config`` with ``value`` at the dotted ``key`` (sections made as needed)."""
    config = json.loads(json.dumps(config))
    *parents, last = key.split(".")
    node = config
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value
    return config


CASES = st.sampled_from(sorted(READERS)).flatmap(
    lambda reader: st.sampled_from(sorted(READERS[reader][2])).flatmap(
        lambda key: st.sampled_from(sorted(VALUES)).flatmap(
            lambda kind: st.tuples(st.just(reader), st.just(key), st.just(kind), VALUES[kind]))))


@FUZZ
@given(CASES)
def test_wrong_types_in_every_config_are_errors_naming_the_key(tmp_path_factory, case):
    reader, key, kind, value = case
    read, base, fields = READERS[reader]
    path = tmp_path_factory.mktemp("cfg") / "config.yaml"
    path.write_text(yaml.safe_dump(put(base, key, value)))
    try:
        read(path)
    except ConfigError as exc:  # the package's own error, naming the file
        text = str(exc)
        assert text.startswith(f"{path}: "), text
        assert "\n" not in text
        if kind not in kinds_taken(fields[key]):
            assert key in text, f"{key}: {text}"
        return
    assert kind in kinds_taken(fields[key]), f"{reader}: {key}: {value!r} ({kind}) was read"


#: one value of each kind, for the test that goes through every field
EXAMPLES = {"int": 3, "float": 2.5, "bool": True, "text": "big", "number text": "1e-3", "null": None, "list": [1],
            "mapping": {"a": 1}}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_field_refuses_every_kind_it_does_not_take(tmp_path, reader):
    read, base, fields = READERS[reader]
    path = tmp_path / "config.json"  # (JSON: quicker to write and read than YAML; the same values)
    tried = 0
    for key, hint in fields.items():
        for kind in sorted(set(EXAMPLES) - kinds_taken(hint)):
            path.write_text(json.dumps(put(base, key, EXAMPLES[kind])))
            with pytest.raises(ConfigError) as caught:
                read(path)
            assert str(caught.value).startswith(f"{path}: ") and key in str(caught.value), (kind, str(caught.value))
            tried += 1
    assert tried > 5 * len(fields) // 2


@pytest.mark.parametrize("reader, text, expected", [
    ("pretrain", "data: {source: pnnl, path: 5}", "data.path: expected a string or null, got 5"),
    ("pretrain", "output: null", "output: expected a string, got None"),
    ("pretrain", "model: {hidden_channels: big}", "model.hidden_channels: expected an integer, got 'big'"),
    ("pretrain", "training: {epochs: 1.5}", "training.epochs: expected an integer, got 1.5"),
    ("pretrain", "training: {batch_size: true}", "training.batch_size: expected an integer, got True"),
    ("pretrain", "training: {epochs: 0}", "training.epochs: expected an integer >= 1, got 0"),
    ("pretrain", "training: {lr: -1e-3}", "training.lr: expected a number > 0, got -0.001"),
    ("pretrain", "training: {energy_weight: 1.5}", "training.energy_weight: expected a number in [0, 1], got 1.5"),
    ("pretrain", "training: {freeze: embedding}", "training.freeze: expected a list of strings, got 'embedding'"),
    ("pretrain", "training: {lr: 'no'}", "training.lr: expected a number, got 'no'"),
    ("pretrain", "training: {lr: .nan}", "training.lr: expected a number, got nan"),
    ("pretrain", "training: {create_graph: 'no'}", "training.create_graph: expected true or false, got 'no'"),
    ("pretrain", "training: {ipu: {replicas: 0}}", "training.ipu.replicas: expected an integer >= 1, got 0"),
    ("pretrain", "data: {source: hydronet-pyg, path: x, sizes: 1-2}", "data.sizes: expected cluster sizes"),
    ("pretrain", "data: {source: s3}", "data.source: expected one of embedded, pnnl, hydronet-pyg, got 's3'"),
    ("finetune", "active: {rule: greedy}", "active.rule: expected one of active, random, none, got 'greedy'"),
    ("finetune", "schedule: {rounds: 1.5}", "schedule.rounds: expected an integer, got 1.5"),
    ("finetune", "start: 5", "start: expected a string, got 5"),
    ("finetune", "active: {rule: random, budget: [3, -1]}", "active.budget: expected a list of integers >= 0"),
    ("transfer", "samples: 1.5", "samples: expected an integer or null, got 1.5"),
    ("transfer", "forgetting: {path: 5, split: x.npz}", "forgetting: expected a string or a mapping"),
    ("force-study", "data_efficiency: {sizes: 3}", "data_efficiency.sizes: expected a list of integers, got 3"),
    ("force-study", "selection: {schedule: {rounds: -1}}",
     "selection.schedule.rounds: expected an integer >= 0, got -1"),
    ("force-study", "val: 1", "val: expected an integer >= 2, got 1"),
    ("transfer-study", "strategies: {use: {frozen: {freeze: embedding}}}",
     "strategies.use.frozen.freeze: expected a list of strings, got 'embedding'"),
    ("transfer-study", "data_efficiency: {sizes: [5, 10], seeds: [1]}",
     "data_efficiency.seeds: expected one entry per size (2), got [1]"),
    ("md-study", "grid: {sizes: 3}", "grid.sizes: expected a list of integers, got 3"),
    ("md-study", "batched: 'no'", "batched: expected true or false, got 'no'"),
    ("md-study", "long: {steps: -5}", "long.steps: expected an integer >= 1, got -5"),
    ("md-study", "grid: {every: 0}", "grid.every: expected an integer >= 1, got 0"),
])
def test_the_issues_cases_name_file_and_key(tmp_path, reader, text, expected):
    read, base, _ = READERS[reader]
    path = tmp_path / "bad.yaml"
    given = yaml.safe_load(text)
    path.write_text(yaml.safe_dump({**base, **given}) if "output" not in given else text + "\n")
    with pytest.raises(ConfigError) as caught:
        read(path)
    assert str(caught.value).startswith(f"{path}: {expected}"), str(caught.value)


@pytest.mark.parametrize("reader", ["pretrain", "finetune", "transfer"])
def test_yaml_1_1_exponents_are_numbers(tmp_path, reader):
    """``lr: 1e-3`` is a string to PyYAML (YAML 1.1); a float field reads it as 0.001, a string field keeps it."""
    path = tmp_path / "config.yaml"
    path.write_text("training: {lr: 1e-3, min_lr: 1E-7, clip_value: 2e2}\noutput: out\n")
    training = READERS[reader][0](path).training
    assert (training.lr, training.min_lr, training.clip_value) == (0.001, 1e-7, 200.0)
    assert isinstance(training.lr, float)


def test_studies_keep_the_converted_values(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("base: b.yaml\noutput: out\ndata_efficiency: {sizes: [5], seeds: [1], training: {lr: 1e-3}}\n"
                    "epochs: {'50': 10}\n")
    config = transfer_studies.read_study_config(path)
    assert config.data_efficiency.training == {"lr": 0.001} and config.epochs == {50: 10}
    path.write_text("output: out\nlong: {dt: 5e-1, steps: 10, taut: null}\n")
    assert md_study.read_study_config(path)["long"] == {"dt": 0.5, "steps": 10, "taut": None}


def test_config_errors_through_the_command_line(tmp_path, capsys):
    """One line on stderr naming the file and the key, status 2, before any work."""
    cases = {"pretrain": "training: {epochs: 1.5}\noutput: out\n", "md-study": "grid: {sizes: 3}\noutput: out\n",
             "force-study": "base: b.yaml\noutput: out\ncreate_graph: {epochs: true}\n"}
    for command, text in cases.items():
        path = tmp_path / f"{command}.yaml"
        path.write_text(text)
        assert main([command, "--config", str(path)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith(f"hydronet-nb: error: {path}: "), err
        assert "expected" in err
    assert not (tmp_path / "out").exists()


@FUZZ
@given(st.sampled_from(sorted(READERS)),
       st.one_of(st.binary(max_size=120),
                 st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
                              lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(st.sampled_from(["data", "training", "output", "grid", "sizes",
                                                                 "base", "epochs", "model", "x"]), inner, max_size=4),
                              max_leaves=10).map(lambda v: json.dumps(v).encode())))
def test_every_reader_on_hostile_files(tmp_path_factory, reader, raw):
    """Random bytes and random JSON trees (with the readers' own key names): read, or a ConfigError naming the
    file; never a traceback of another kind."""
    for name in ("config.yaml", "config.json"):
        path = tmp_path_factory.mktemp("cfg") / name
        path.write_bytes(raw)
        try:
            READERS[reader][0](path)
        except ConfigError as exc:
            assert str(exc).startswith(f"{path}: "), str(exc)
