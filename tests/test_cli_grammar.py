"""One grammar across the commands: the same option spelt the same way everywhere."""

from __future__ import annotations

import json

import typer.main

from contextures import __version__
from contextures.cli.app import _load_commands, app, main


def _commands() -> dict:
    """Every leaf command by its words (``spectrum``, ``bench alignment``…)."""
    _load_commands()
    root = typer.main.get_command(app)
    found = {}

    def walk(group, prefix):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):  # a group
                walk(command, prefix + [name])
            else:
                found[" ".join(prefix + [name])] = command

    walk(root, [])
    return found


def _options(command) -> dict:
    return {name: p for p in command.params if p.param_type_name == "option" for name in p.opts}


def test_each_short_flag_means_one_thing_everywhere():
    """-D is --data, -c is --context, -d is --components, -q is --quiet; --d0 has no short
    form and is spelt --d0; no command spells the components --n-components."""
    meaning = {"-D": "--data", "-c": "--context", "-d": "--components", "-q": "--quiet"}
    for words, command in _commands().items():
        opts = _options(command)
        for short, long in meaning.items():
            if short in opts:
                assert long in opts[short].opts, (words, short, opts[short].opts)
            if long in opts:
                assert short in opts[long].opts, (words, long, opts[long].opts)
        assert "--n-components" not in opts, words
        if "--d0" in opts:
            assert opts["--d0"].opts == ["--d0"], words


def test_the_commands_that_take_data_and_a_context_take_the_short_forms():
    commands = _commands()
    for words in ("spectrum", "evaluate", "run", "train", "compare", "semisup"):
        opts = _options(commands[words])
        assert {"--data", "-D", "--context", "-c"} <= set(opts), words
    # the bundled dataset is the default wherever one dataset is read
    for words in ("spectrum", "evaluate", "run", "train", "semisup", "bench alignment"):
        assert _options(commands[words])["--data"].default == "abalone", words
    # compare defaults to the model's dataset
    assert _options(commands["compare"])["--data"].default is None


def test_bench_commands_share_the_grid_options():
    commands = _commands()
    grid = {"--workers", "--backend", "--scheduler", "--overwrite"}
    for words in ("bench alignment", "bench estimation", "bench correlation", "bench mixing",
                  "bench semisup"):
        opts = _options(commands[words])
        assert grid <= set(opts), words
        assert "runner" not in {p.name for p in commands[words].params}


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"contextures {__version__}"


def test_a_bad_backend_is_refused_before_any_work(capsys, tmp_path):
    code = main(["bench", "mixing", "--quick", "--backend", "nope", "--out", str(tmp_path)])
    assert code == 2
    assert "backend" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_misspelt_context_gets_a_suggestion(capsys):
    code = main(["spectrum", "-D", "abalone", "-c", "knnn(k=5)", "-d", "2"])
    assert code == 2
    assert "did you mean 'knn'?" in capsys.readouterr().err
    code = main(["evaluate", "-c", "knn(kk=5)"])
    assert code == 2
    assert "did you mean 'k'?" in capsys.readouterr().err


def test_datasets_list_and_show_write_json(capsys, tmp_path):
    assert main(["datasets", "list", "--json", "-"]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["suite"] == "offline" and payload["failed"] == 0
    first = payload["datasets"][0]
    assert set(first) == {"name", "spec", "rows", "features", "task"}
    assert isinstance(first["rows"], int)
    # the table went to stderr under the same column names
    assert captured.err.split()[:5] == ["name", "spec", "rows", "features", "task"]

    target = tmp_path / "abalone.json"
    assert main(["datasets", "show", "abalone", "--json", str(target)]) == 0
    shown = json.loads(target.read_text())
    assert shown["rows"] == 4177 and shown["name"] == "abalone"
    table_keys = [line.split()[0] for line in capsys.readouterr().out.splitlines()
                  if line and not line.startswith("wrote")]
    assert set(table_keys) <= set(shown)


def test_evaluate_table_columns_are_the_json_field_names():
    """The table prints the JSON record's field names (d_hat, decay_rate, d_star…)."""
    from contextures.cli.evaluate import ranking_table

    header = ranking_table([], "regression")[0].split()
    for field in ("tau", "d_hat", "decay_rate", "n_resolved", "err_at_d_val", "d_val", "err",
                  "d_star"):
        assert field in header
