"""Neighbour lists at scale: the exact search in chunks on threads, ties settled by one ball query,
the approximate backend (recall, notes, fallback) and progress lines."""

import io

import numpy as np
import pytest

from contextures import _progress
from contextures.contexts import neighbors as nb
from contextures.contexts.approximate import RECALL_SAMPLE


def reference(X, k, Q=None):
    """Every distance, sorted by (squared distance, index); self left out by index."""
    self_query = Q is None
    Q = X if self_query else Q
    out_i, out_d = [], []
    for r, q in enumerate(Q):
        d2 = np.zeros(X.shape[0])
        for f in range(X.shape[1]):
            d2 += (X[:, f] - q[f]) ** 2
        idx = np.arange(X.shape[0])
        if self_query:
            keep = idx != r
            d2, idx = d2[keep], idx[keep]
        order = np.lexsort((idx, d2))[:k]
        out_i.append(idx[order])
        out_d.append(d2[order])
    return np.array(out_i), np.array(out_d)


@pytest.mark.parametrize("threads", [1, 3])
def test_ties_and_duplicates_are_exact_in_any_chunking(threads, monkeypatch):
    rng = np.random.default_rng(3)
    # a coarse integer grid: many exact ties at the k-th distance, and duplicated rows
    X = rng.integers(0, 3, size=(1500, 4)).astype(float)
    monkeypatch.setattr(nb, "_CHUNK_ROWS", 97)
    all_i, all_d = reference(X, 40)   # the order is total: smaller k are its first columns
    for k in (1, 7, 40):
        idx, d2 = nb.kneighbors(X, k, algorithm="kd_tree", n_jobs=threads)
        np.testing.assert_array_equal(idx, all_i[:, :k])
        np.testing.assert_array_equal(d2, all_d[:, :k])
        brute_i, _ = nb.kneighbors(X, k, algorithm="brute", n_jobs=threads)
        np.testing.assert_array_equal(brute_i, all_i[:, :k])


def test_new_points_and_a_small_ball_budget(monkeypatch):
    rng = np.random.default_rng(4)
    X = np.round(rng.standard_normal((800, 3)), 1)
    Q = np.vstack([X[:50], np.round(rng.standard_normal((50, 3)), 1)])
    monkeypatch.setattr(nb, "_BALL_ENTRIES", 64)   # one ball row per group
    idx, d2 = nb.kneighbors(X, 12, Q, algorithm="kd_tree", n_jobs=2)
    ref_i, ref_d = reference(X, 12, Q)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_array_equal(d2, ref_d)
    # the new-point rule still holds on these lists
    lists, _ = nb.kneighbors(X, 13, Q[:50], algorithm="kd_tree")
    own = nb.new_point_neighbors(X, Q[:50], lists)
    self_lists, _ = nb.kneighbors(X, 12)
    np.testing.assert_array_equal(own, self_lists[:50])


def test_all_rows_identical():
    X = np.ones((300, 5))
    idx, d2 = nb.kneighbors(X, 10)
    assert (d2 == 0).all()
    np.testing.assert_array_equal(idx, reference(X, 10)[0])


def test_progress_lines_only_when_reporting(monkeypatch):
    X = np.random.default_rng(0).standard_normal((3000, 3))
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    stream = io.StringIO()
    with _progress.reporting(stream=stream):
        bar = _progress.task("neighbour search", 10, "rows", delay=0.0, interval=0.0)
        bar.update(5)
        bar.close()
        nb.kneighbors(X, 5)
    text = stream.getvalue()
    assert "contextures: neighbour search: 5/10 rows (50%)" in text
    assert text.strip().splitlines()[-1].endswith("done")
    quiet = io.StringIO()
    with _progress.reporting(False, stream=quiet):
        _progress.task("x", 1, delay=0.0).update(1)
    assert quiet.getvalue() == ""


def test_search_choice_rules():
    assert nb.choose_search(10**6, 8, "auto")[0] == "exact"          # a tree is exact and fast
    method, note = nb.choose_search(500, 64, "approx")
    assert method == "exact" and "fewer than" in note
    assert nb.choose_search(50_000, 64, "exact") == ("exact", None)
    with pytest.raises(Exception, match="search must be one of"):
        nb.choose_search(100, 4, "fast")


def clustered(n, F, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((20, F)) * spread
    lab = rng.integers(20, size=n)
    return centers[lab] + 0.5 * rng.standard_normal((n, F))


needs_faiss = pytest.mark.skipif(not nb.approximate_available(), reason="needs the ann extra")


@needs_faiss
def test_approximate_lists_report_recall_and_effect():
    from contextures.spectral import Contexture

    X = clustered(6000, 24)
    model = Contexture("knn(k=10,search=approx)", n_components=6, random_state=0,
                       extension="raw").fit(X)
    result = model.result_
    assert result.exact is False
    notes = " | ".join(result.notes)
    assert "approximate neighbour lists (faiss" in notes and "recall" in notes
    assert "estimated effect of the approximate neighbour lists on s_1..s_6" in notes
    info = model.context_.approximation_
    assert info.recall >= 0.9 and info.sample.size == RECALL_SAMPLE
    assert result.approximation_effect.shape == (6,)
    exact = Contexture("knn(k=10)", n_components=6, random_state=0, extension="raw").fit(X)
    assert exact.result_.exact is True and model.context_.spec() == "knn(k=10,search=approx)"
    # the lists are ranked like exact ones: sorted distances, self left out
    lists = model.context_.neighbors_
    assert not (lists == np.arange(6000)[:, None]).any()
    assert np.abs(exact.singular_values_ - model.singular_values_).max() < 0.05


def test_an_approximate_request_on_tiny_data_is_exact_with_a_note():
    from contextures.spectral import Contexture

    X = clustered(400, 20)
    model = Contexture("knn(k=8,search=approx)", n_components=4, random_state=0).fit(X)
    assert model.result_.exact is True
    assert any("fewer than 5000: exact lists used" in note for note in model.result_.notes)
    auto = Contexture("knn(k=8)", n_components=4, random_state=0).fit(X)
    assert not any("neighbour" in note for note in auto.result_.notes)
    np.testing.assert_array_equal(model.context_.neighbors_, auto.context_.neighbors_)


def test_approx_without_the_extra_says_how_to_install(monkeypatch):
    monkeypatch.setattr(nb, "approximate_available", lambda: False)
    with pytest.raises(Exception, match=r"contextures\[ann\]"):
        nb.NeighborLists.compute(clustered(6000, 20), 5, search="approx")
    # auto silently stays exact without the extra
    assert nb.choose_search(200_000, 64, "auto") == ("exact", None)


@needs_faiss
def test_auto_picks_approximate_lists_only_for_large_high_dimensional_data():
    assert nb.choose_search(nb.APPROX_AUTO_ROWS, 17, "auto")[0] == "approx"
    assert nb.choose_search(nb.APPROX_AUTO_ROWS - 1, 64, "auto")[0] == "exact"
    assert nb.choose_search(10**7, 16, "auto")[0] == "exact"


@needs_faiss
def test_a_mixture_with_approximate_lists_says_so():
    from contextures.spectral import Contexture

    X = clustered(6000, 24)
    model = Contexture("mix(knn(k=10,search=approx),knn(k=20,search=exact))", n_components=4,
                       random_state=0, extension="raw").fit(X)
    assert model.result_.exact is False
    assert any("recall" in note for note in model.result_.notes)
    assert any("effect on the mixture" in note for note in model.result_.notes)
