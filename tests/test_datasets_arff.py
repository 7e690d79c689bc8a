"""arff: the ARFF reader (liac-arff underneath) on every quoting form, sparse rows and bad files."""

import numpy as np
import pandas as pd
import pytest

from contextures.datasets import arff as arff_module
from contextures.datasets.arff import decode_text, read_arff
from contextures.exceptions import DataError


def doc(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def test_double_quoted_value_with_a_comma():
    frame = read_arff(doc("@relation t", "@attribute name string", "@attribute x numeric",
                          "@data", '"a,b",1'))
    assert frame["name"].tolist() == ["a,b"] and frame["x"].tolist() == [1.0]


def test_quoting_forms_names_comments_and_missing_values():
    frame = read_arff(doc(
        "% comment",
        "@RELATION 'a relation'",
        "@ATTRIBUTE 'a b' NUMERIC",
        '@attribute "c" {x, \'y z\', "w,v"}',
        "@attribute d string",
        "@data",
        "1.5,x,'hello, world'",
        "% a comment between rows",
        "?,'y z',\"she said \\\"hi\\\"\"",
        "  -2 , \"w,v\" , 'it\\'s'  ",
        ",?,?",
    ))
    assert list(frame.columns) == ["a b", "c", "d"]
    np.testing.assert_array_equal(frame["a b"], [1.5, np.nan, -2, np.nan])
    assert frame["c"].tolist()[:3] == ["x", "y z", "w,v"] and pd.isna(frame["c"].iloc[3])
    assert frame["d"].tolist() == ["hello, world", 'she said "hi"', "it's", None]


def test_column_types():
    frame = read_arff(doc(
        "@relation t", "@attribute i integer", "@attribute r real", "@attribute n {b,a}",
        "@attribute s string", '@attribute d date "yyyy-MM-dd HH:mm:ss"', "@data",
        "1.5,2,a,x,'2020-01-02 03:04:05'", "nan,?,b,y,?"))
    assert frame["i"].dtype == np.float64 and frame["r"].dtype == np.float64
    assert frame["i"].iloc[0] == 1.5  # an integer attribute's value is not truncated
    assert np.isnan(frame["i"].iloc[1]) and np.isnan(frame["r"].iloc[1])
    assert isinstance(frame["n"].dtype, pd.CategoricalDtype)
    assert list(frame["n"].cat.categories) == ["b", "a"]  # declared order
    assert frame["s"].dtype == object and frame["d"].dtype == object
    assert frame["d"].tolist() == ["2020-01-02 03:04:05", None]


def test_windows_line_endings_and_empty_data():
    frame = read_arff("@relation t\r\n@attribute a numeric\r\n@data\r\n1\r\n2\r\n")
    assert frame["a"].tolist() == [1.0, 2.0]
    empty = read_arff(doc("@relation t", "@attribute a numeric", "@attribute b {x,y}", "@data"))
    assert empty.shape == (0, 2) and empty["a"].dtype == np.float64


def test_sparse_rows_are_expanded():
    frame = read_arff(doc("@relation s", "@attribute a numeric", "@attribute b {u,v}",
                          "@attribute c numeric", "@data", "{0 1.5, 2 3}", "{1 v}", "{}",
                          "{0 ?}"))
    np.testing.assert_array_equal(frame["a"], [1.5, 0, 0, np.nan])
    assert frame["b"].tolist() == ["u", "v", "u", "u"]  # omitted nominal: first level
    np.testing.assert_array_equal(frame["c"], [3, 0, 0, 0])


def test_sparse_rows_with_text_attributes_are_refused():
    with pytest.raises(DataError, match="sparse ARFF with string or date attributes"):
        read_arff(doc("@relation s", "@attribute a numeric", "@attribute b string", "@data",
                      "{0 1}"))


def test_sparse_file_too_large_to_expand(monkeypatch):
    monkeypatch.setattr(arff_module, "MAX_EXPANDED_CELLS", 5)
    with pytest.raises(DataError, match="would expand to 3 rows x 2 attributes"):
        read_arff(doc("@relation s", "@attribute a numeric", "@attribute b numeric", "@data",
                      "{0 1}", "{1 1}", "{}"))


def test_relational_attribute_is_refused_naming_its_line():
    with pytest.raises(DataError, match=r"ARFF, line 3: attribute 'bag' is relational"):
        read_arff(doc("@relation r", "@attribute id {a}", "@attribute bag relational",
                      "  @attribute x numeric", "@end bag", "@data", 'a,"1"'))


@pytest.mark.parametrize("lines, message", [
    (["@attribute a numeric", "@attribute b numeric", "@data", "1,2", "", "% c", "1"],
     r"line 8: expected one value for each of the 2 attributes \(the line reads '1'\)"),
    (["@attribute a {x,y}", "@data", "x", "q"],
     "line 5: Data value q not found in nominal declaration"),
    (["@attribute a numeric", "@data", "1", "abc"], "line 5: Invalid numerical value"),
    (["@attribute a string", "@data", "'a\\qb'"], r"line 4: Unsupported escape sequence"),
    (["@attribute a string", "@attribute b numeric", "@data", "'abc,1"],
     "line 5: Invalid layout"),
    (["@attribute a numeric", "@attribute a numeric", "@data", "1,2"],
     "line 3: Bad @ATTRIBUTE name a, this name is already in use in line 2"),
    (["@attribute a blob", "@data", "1"], r"line 2: Bad @ATTRIBUTE type \(the line reads "
                                          r"'@attribute a blob'\)"),
    (["@attribute a integer", "@attribute a integer", "@data", "1,2"],
     "the line reads '@attribute a integer'"),  # shown as written, not as rewritten
])
def test_malformed_files_name_the_line(lines, message):
    with pytest.raises(DataError, match=message):
        read_arff(doc("@relation s", *lines))


def test_missing_sections_and_source_name():
    with pytest.raises(DataError, match="^ARFF: no @attribute declarations$"):
        read_arff(doc("@relation s", "@data"))
    with pytest.raises(DataError, match="^my file: no @data section$"):
        read_arff(doc("@relation s", "@attribute a numeric"), source="my file")


def test_decode_text():
    assert decode_text("\ufeff@relation é\n".encode()) == "@relation é\n"
    with pytest.raises(DataError, match=r"^f, line 2: the file is not UTF-8 text$"):
        decode_text(b"@relation s\n@attribute caf\xe9 numeric\n", "f")
