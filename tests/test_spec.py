"""The spec grammar: parsing, canonical formatting, round trips and error messages."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextures.exceptions import SpecError
from contextures.spec import Call, format_spec, parse_spec


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("knn(k=30)", "knn(k=30)"),
        ("rbf_mask(gamma=0.5, p=0.2, masks=50)", "rbf_mask(gamma=0.5,p=0.2,masks=50)"),
        ("conv(scarf(p=0.3),label)", "conv(scarf(p=0.3),label)"),
        ("mix(0.7*knn(k=5), 0.3*label)", "mix(0.7*knn(k=5),0.3*label)"),
        ("label(balanced=true)", "label(balanced=true)"),
        ("graph(edges=data/edges.csv)", "graph(edges=data/edges.csv)"),
        ("mix(knn,rbf,weights=minimax,eta=0.03)", "mix(knn,rbf,weights=minimax,eta=0.03)"),
        ("rbf(gamma=1e-3)", "rbf(gamma=0.001)"),
        ("KNN(K=5)", "knn(k=5)"),
        ("teacher(model='gbt')", "teacher(model=gbt)"),
        ("x(path='a b,c')", 'x(path="a b,c")'),
    ],
)
def test_canonical_form_and_round_trip(text, canonical):
    call = parse_spec(text)
    assert format_spec(call) == canonical
    assert parse_spec(canonical) == call


def test_structure_of_a_nested_weighted_spec():
    call = parse_spec("mix(0.7*knn(k=5),0.3*label,eta=0.03)")
    assert call.name == "mix"
    assert [a.weight for a in call.args] == [0.7, 0.3]
    assert call.args[0] == Call("knn", (), (("k", 5),), 0.7)
    assert call.params == {"eta": 0.03}


def test_value_types():
    call = parse_spec("c(a=1,b=2.5,c=true,d=false,e=none,f=word,g=-3,h=1e2)")
    assert call.params == {"a": 1, "b": 2.5, "c": True, "d": False, "e": None, "f": "word",
                           "g": -3, "h": 100.0}
    assert isinstance(call.params["a"], int)


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("knn(k=", "expected a value"),
        ("knn(k=3", "expected ')'"),
        ("knn(k=3))", "unexpected ')'"),
        ("3", "found a number"),
        ("knn(k=1,k=2)", "given twice"),
        ("mix(eta=1, knn)", "positional argument follows"),
        ("knn(k='3)", "unterminated"),
        ("(k=3)", "expected a name"),
    ],
)
def test_errors_name_the_problem(bad, fragment):
    with pytest.raises(SpecError, match=re.escape(fragment)):
        parse_spec(bad)


def test_non_string_is_refused():
    with pytest.raises(SpecError):
        parse_spec(3)


names = st.sampled_from(["knn", "rbf", "scarf", "label", "mix", "conv"])
values = st.one_of(st.integers(-1000, 1000), st.floats(0.001, 1000, allow_nan=False),
                   st.booleans(), st.sampled_from(["minimax", "gbt", "a/b.csv"]))
calls = st.recursive(
    st.builds(lambda n, kw: Call(n, (), tuple(kw.items())), names,
              st.dictionaries(st.sampled_from(["k", "p", "gamma", "masks"]), values, max_size=3)),
    lambda children: st.builds(lambda n, a: Call(n, tuple(a)), names,
                               st.lists(children, min_size=1, max_size=3)),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(calls)
def test_format_then_parse_is_identity(call):
    assert parse_spec(format_spec(call)) == call
