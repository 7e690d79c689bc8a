"""Label, graph and teacher contexts: known spectra, file formats, the rules for bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

from contextures.contexts import GraphContext, make_context
from contextures.exceptions import DataError, ParameterError


def singular_values(op):
    """All singular values of Q from numpy's dense SVD."""
    return np.linalg.svd(op.dense_q(), compute_uv=False)


# --- label -------------------------------------------------------------------------------------
def test_balanced_classes_give_ones_then_zeros():
    X = np.random.default_rng(0).normal(size=(60, 3))
    y = np.repeat(np.arange(4), 15)
    op = make_context("label").fit(X, y).operator()
    assert op.shape == (60, 4)
    s = singular_values(op)
    np.testing.assert_allclose(s, [1, 1, 1, 1], atol=1e-12)  # s0 and s1..s_{C-1}
    w = np.linalg.eigvalsh(op.dense_gram())[::-1]
    np.testing.assert_allclose(w[:4], 1.0, atol=1e-12)
    np.testing.assert_allclose(w[4:], 0.0, atol=1e-12)


def test_unbalanced_classes_and_balanced_flag():
    X = np.zeros((10, 1))
    y = np.array([5, 5, 5, 5, 5, 5, 7, 7, 9, 9])
    plain = make_context("label").fit(X, y)
    bal = make_context("label(balanced=true)").fit(X, y)
    np.testing.assert_array_equal(plain.classes_, [5, 7, 9])
    np.testing.assert_allclose(plain.class_prior_, [0.6, 0.2, 0.2])
    np.testing.assert_allclose(bal.balanced_weights_, 1 / np.sqrt([0.6, 0.2, 0.2]))
    # the operator is the same; only the neural objective differs
    np.testing.assert_allclose(plain.operator().dense_gram(), bal.operator().dense_gram())
    np.testing.assert_allclose(singular_values(plain.operator()), 1.0, atol=1e-12)
    onehot = bal.sample(np.array([0, 7, 9]))
    np.testing.assert_array_equal(onehot, [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(bal.sample_indices(np.array([0, 7, 9])), [0, 1, 2])


def test_string_labels_are_classes():
    X = np.zeros((6, 1))
    ctx = make_context("label").fit(X, np.array(["b", "a", "b", "c", "a", "b"]))
    assert ctx.task_ == "classification"
    np.testing.assert_array_equal(ctx.classes_, ["a", "b", "c"])
    np.testing.assert_array_equal(ctx.sample_indices(np.arange(6)), [1, 0, 1, 2, 0, 1])


def test_label_errors():
    X = np.zeros((5, 2))
    with pytest.raises(ParameterError, match="needs labels"):
        make_context("label").fit(X)
    with pytest.raises(ParameterError, match="one entry per sample"):
        make_context("label").fit(X, np.arange(4))
    ctx = make_context("label").fit(X, np.arange(5) % 2)
    with pytest.raises(ParameterError, match="labels of new points"):
        ctx.transition(X)
    assert make_context("label").needs_labels


def test_regression_label_is_the_whitened_target():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 2))
    y = 3.0 * X[:, 0] + 10.0
    ctx = make_context("label").fit(X, y)
    assert ctx.task_ == "regression"
    f = ctx.features_[:, 0]
    assert abs(f.mean()) < 1e-12 and f.var() == pytest.approx(1.0)
    assert abs(np.corrcoef(f, y)[0, 1]) == pytest.approx(1.0)
    op = ctx.operator()
    np.testing.assert_allclose(singular_values(op), [1, 1], atol=1e-12)
    # two targets, one a multiple of the other: one direction
    Y = np.column_stack([y, 2 * y])
    assert make_context("label(task=regression)").fit(X, Y).features_.shape == (50, 1)
    with pytest.raises(ParameterError, match="constant"):
        make_context("label").fit(X, np.ones(50))


# --- graph -------------------------------------------------------------------------------------
def two_cliques(a=5, b=7):
    n = a + b
    W = np.zeros((n, n))
    W[:a, :a] = 1
    W[a:, a:] = 1
    np.fill_diagonal(W, 0)
    return W


def test_two_disconnected_cliques_give_s1_equal_one():
    W = two_cliques()
    X = np.zeros((12, 1))
    op = GraphContext(adjacency=sp.csr_matrix(W)).fit(X).operator()
    s = singular_values(op)
    assert s[0] == pytest.approx(1.0, abs=1e-12)
    assert s[1] == pytest.approx(1.0, abs=1e-12)
    assert s[2] < 0.3
    # M is the square of the normalised adjacency, π ∝ degree
    d = W.sum(1)
    A = W / np.sqrt(np.outer(d, d))
    np.testing.assert_allclose(op.dense_gram(), A @ A, atol=1e-13)
    np.testing.assert_allclose(op.pi, d / d.sum())


def test_edge_list_files(tmp_path):
    X = np.zeros((4, 1))
    csv = tmp_path / "edges.csv"
    csv.write_text("source,target,weight\n0,1,2\n1,2,1\n2,3,1\n")
    tsv = tmp_path / "edges.tsv"
    tsv.write_text("0\t1\t2\n1\t2\t1\n2\t3\t1\n")
    txt = tmp_path / "edges.txt"
    txt.write_text("# a comment\n0 1 2\n1 2 1\n2 3 1\n")
    W = np.zeros((4, 4))
    for u, v, w in [(0, 1, 2), (1, 2, 1), (2, 3, 1)]:
        W[u, v] = W[v, u] = w
    d = W.sum(1)
    P_ref = W / d[:, None]
    for path in (csv, tsv, txt):
        ctx = make_context(f"graph(edges={path})").fit(X)
        np.testing.assert_allclose(ctx.operator().P.toarray(), P_ref)
    both = tmp_path / "both.csv"  # each edge listed in both directions: the same context
    both.write_text("0,1\n1,0\n1,2\n2,1\n2,3\n3,2\n")
    once = tmp_path / "once.csv"
    once.write_text("0,1\n1,2\n2,3\n")
    a = make_context(f"graph(edges={both})").fit(X).operator().P.toarray()
    b = make_context(f"graph(edges={once})").fit(X).operator().P.toarray()
    np.testing.assert_allclose(a, b)
    j = make_context(f"graph(edges={csv})").fit(X).sample_indices(np.zeros(3000, int), 0)
    assert set(j) == {1}
    j = make_context(f"graph(edges={csv})").fit(X).sample_indices(np.ones(6000, int), 0)
    assert np.mean(j == 0) == pytest.approx(2 / 3, abs=0.03)


def test_graph_errors(tmp_path):
    X = np.zeros((4, 1))
    with pytest.raises(DataError, match="not found"):
        make_context("graph(edges=/nonexistent/edges.csv)").fit(X)
    bad = tmp_path / "bad.csv"
    bad.write_text("0,9\n")
    with pytest.raises(ParameterError, match=r"\[0, 4\)"):
        make_context(f"graph(edges={bad})").fit(X)
    iso = tmp_path / "iso.csv"
    iso.write_text("0,1\n1,2\n")
    with pytest.raises(ParameterError, match="no edges"):
        make_context(f"graph(edges={iso})").fit(X)
    ctx = make_context(f"graph(edges={iso},isolated=self_loop)").fit(X)
    op = ctx.operator()
    assert op.P[3, 3] == 1.0
    assert singular_values(op)[1] == pytest.approx(1.0)  # the isolated node is a component
    with pytest.raises(ParameterError, match="exactly one"):
        GraphContext().fit(X)
    with pytest.raises(ParameterError, match="n × n"):
        GraphContext(adjacency=np.ones((3, 3))).fit(X)
    with pytest.raises(ParameterError, match="non-negative"):
        GraphContext(adjacency=-np.ones((4, 4))).fit(X)
    with pytest.raises(ParameterError, match="not nodes"):
        ctx.transition(X)


def test_in_memory_graph_spec_says_so():
    ctx = GraphContext(adjacency=two_cliques())
    text = ctx.spec()
    assert "in-memory" in text
    with pytest.raises(ParameterError, match="edge list"):
        make_context(text).fit(np.zeros((12, 1)))


# --- teacher -----------------------------------------------------------------------------------
@pytest.fixture
def labelled():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    return X, y


@pytest.mark.parametrize("model", ["logistic", "ridge", "rf", "gbt"])
def test_teacher_is_a_whitened_feature_context(labelled, model):
    X, y = labelled
    ctx = make_context(f"teacher(model={model},threshold=0.1)").fit(X, y)
    Z = ctx.features_
    np.testing.assert_allclose(Z.mean(0), 0.0, atol=1e-10)
    np.testing.assert_allclose(Z.T @ Z / len(X), np.eye(Z.shape[1]), atol=1e-8)
    kept = ctx.singular_values_ >= 0.1 * ctx.singular_values_[0]
    assert Z.shape[1] == kept.sum()
    op = ctx.operator()
    s = singular_values(op)
    np.testing.assert_allclose(s[: Z.shape[1] + 1], 1.0, atol=1e-8)  # s0 = 1, then flat
    np.testing.assert_allclose(ctx.transition(X), np.hstack([np.ones((120, 1)), Z]), atol=1e-8)


def test_teacher_threshold_and_errors(labelled):
    X, y = labelled
    one = make_context("teacher(model=logistic,threshold=1)").fit(X, y)
    assert one.n_directions_ == 1
    with pytest.raises(ParameterError, match="needs labels"):
        make_context("teacher").fit(X)
    with pytest.raises(ParameterError, match="class labels"):
        make_context("teacher(model=logistic)").fit(X, X[:, 0])
    with pytest.raises(ParameterError, match="model"):
        make_context("teacher(model=svm)").fit(X, y)
    reg = make_context("teacher(model=ridge)").fit(X, X[:, 0] * 2.0)
    assert reg.task_ == "regression" and reg.n_directions_ == 1
