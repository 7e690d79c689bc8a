"""ContextureEncoder: determinism, training options, typed errors, model files."""

import json
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from _encoders_testlib import (
    KernelOnlyContext,
    LabelMatrixContext,
    MatrixContext,
    NoiseOnlyContext,
    blobs_problem,
    smooth_grid_problem,
    untrained,
)
from contextures.encoders import ContextureEncoder, load_encoder
from contextures.encoders.io import CONFIG_NAME, WEIGHTS_NAME
from contextures.evaluation import cca_r2
from contextures.exceptions import ModelFileError, ParameterError, SpecError, TrainingError


@pytest.fixture(scope="module")
def grid():
    X, P = smooth_grid_problem(n=120)
    return X, P


def enc_for(context, objective="kise", **kw):
    params = dict(n_components=2, hidden=32, depth=2, epochs=60, lr=3e-3, random_state=0,
                  output_dim=6, n_threads=1)
    params.update(kw)
    return ContextureEncoder(context, objective=objective, **params)


# --- determinism and options --------------------------------------------------------------------


@pytest.mark.parametrize("objective", ["vicreg", "kise"])
def test_same_seed_same_model(grid, objective):
    X, P = grid
    a = enc_for(MatrixContext(P), objective).fit(X)
    b = enc_for(MatrixContext(P), objective).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert a.history_["train"] == b.history_["train"]
    c = enc_for(MatrixContext(P), objective, random_state=1).fit(X)
    assert not np.array_equal(a.transform(X), c.transform(X))


def test_fit_restores_threads_and_deterministic_flag(grid):
    X, P = grid
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    enc_for(MatrixContext(P), n_threads=1, epochs=2).fit(X)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before


def test_sklearn_conventions(grid):
    X, P = grid
    enc = enc_for(MatrixContext(P), epochs=5)
    assert clone(enc).get_params()["objective"] == "kise"
    assert not hasattr(enc, "extraction_")
    enc.fit(X)
    assert enc.transform(X).shape == (120, 2)
    assert enc.singular_values_ == pytest.approx(np.sqrt(enc.eigenvalues_))
    assert enc.n_epochs_ == 5 and len(enc.history_["train"]) == 5
    assert enc.output_dim_ == 6
    assert ContextureEncoder(MatrixContext(P), n_components=3).get_params()["output_dim"] is None


def test_default_output_dim_is_4d_capped(grid):
    X, P = grid
    enc = ContextureEncoder(MatrixContext(P), "kise", n_components=5, hidden=16, depth=1,
                            epochs=2, n_threads=1, random_state=0).fit(X)
    assert enc.output_dim_ == 20
    enc = ContextureEncoder(MatrixContext(P), "kise", n_components=5, hidden=16, depth=1,
                            epochs=2, n_threads=1, random_state=0, batch_size=12).fit(X)
    assert enc.output_dim_ == 12       # capped by the batch


def test_early_stopping_on_held_out_loss(grid):
    X, P = grid
    enc = enc_for(MatrixContext(P), "kise", epochs=2000, validation_fraction=0.25, patience=5,
                  lr=1e-2).fit(X)
    h = enc.history_
    assert enc.n_epochs_ < 2000 and h["stopped_early"]
    assert len(h["validation"]) == enc.n_epochs_
    assert h["best_epoch"] == int(np.argmin(h["validation"])) + 1


@pytest.mark.parametrize("objective", ["vicreg", "svme", "contrastive"])
def test_sample_only_gaussian_noise_context_has_hermite_eigenfunctions(objective):
    # X ~ N(0, diag(1, 0.1, 0.1, 0.1)), A = X + σε: independent Gaussian channels with
    # correlations ρ_f = sqrt(v_f / (v_f + σ²)), whose singular functions are Hermite products
    # (Mehler). With σ = 0.5 the top two are x₀ (s² = 0.8) and x₀² − 1 (0.64); every function of
    # the three distractors has s² ≤ 0.29, so an untrained network, which mixes them in, fails.
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=400), np.sqrt(0.1) * rng.normal(size=(400, 3))])
    hermite = np.column_stack([X[:, 0], X[:, 0] ** 2 - 1])
    rho2 = 1 / (1 + 0.5 ** 2)
    enc = enc_for(NoiseOnlyContext(sigma=0.5), objective, epochs=300).fit(X)
    assert enc.extraction_.method == ("svme-views" if objective == "svme" else "views")
    assert enc.features_ == ("phi" if objective == "svme" else "psi")
    assert enc.n_components_resolved_ == 2
    control = untrained(enc).fit(X)
    assert cca_r2(enc.transform(X), hermite) >= 0.88 > cca_r2(control.transform(X), hermite)
    # estimates from 4 view pairs per row on n = 400: finite-sample and Monte-Carlo noise
    assert enc.eigenvalues_[0] == pytest.approx(rho2, abs=0.04)
    assert enc.eigenvalues_[1] == pytest.approx(rho2 ** 2, abs=0.08)
    # the functions are centred on the training rows (not on the views)
    np.testing.assert_allclose(enc.transform(X).mean(0), 0.0, atol=1e-10)


def test_cnn_architecture():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 16))
    X[:40, :8] += 2.0
    y = (np.arange(80) < 40).astype(int)
    enc = enc_for(LabelMatrixContext(), "supervised", n_components=1, architecture="cnn",
                  output_dim=4, hidden=16, epochs=40).fit(X, y)
    assert type(enc.encoder_).__name__ == "SmallCNN"
    assert enc.transform(X).shape == (80, 1)


def test_real_crop_context_with_the_cnn():
    from sklearn.datasets import load_digits

    X, _ = load_digits(return_X_y=True)
    X = X[:300] / 16.0
    enc = enc_for("crop(alpha=0.5)", "svme", architecture="cnn", hidden=16, output_dim=8,
                  n_components=2, epochs=5, batch_size=100, activation="relu").fit(X)
    assert type(enc.encoder_).__name__ == "SmallCNN"
    assert enc.extraction_.method == "svme-views"
    assert enc.transform(X).shape == (300, enc.n_components_resolved_)
    assert 1 <= enc.n_components_resolved_ <= 2 and enc.eigenvalues_.shape == (2,)
    with pytest.raises(ParameterError, match="needs kernel access.*can only be sampled"):
        enc_for("crop(alpha=0.5)", "kise", architecture="cnn").fit(X)


# --- bad input ----------------------------------------------------------------------------------


def test_kernel_objective_with_sample_only_context(grid):
    X, _ = grid
    for objective in ("kise", "nested"):
        with pytest.raises(ParameterError, match="needs kernel access.*can only be sampled"):
            enc_for(NoiseOnlyContext(), objective).fit(X)


def test_sample_objective_with_kernel_only_context(grid):
    X, P = grid
    for objective in ("vicreg", "contrastive", "dae"):
        with pytest.raises(ParameterError, match="input space|sample access"):
            enc_for(KernelOnlyContext(P), objective).fit(X)
    with pytest.raises(ParameterError, match="needs sample access"):
        enc_for(KernelOnlyContext(P), "svme").fit(X)


def test_objective_context_mismatches(grid):
    X, P = grid
    Xb, yb = blobs_problem(n=120)
    with pytest.raises(ParameterError, match="needs a label context"):
        enc_for(MatrixContext(P), "supervised").fit(X)
    with pytest.raises(ParameterError, match="graph or another finite context"):
        enc_for(LabelMatrixContext(), "laplacian").fit(Xb, yb)
    with pytest.raises(ParameterError, match="values of context .* are labels"):
        enc_for(LabelMatrixContext(), "vicreg").fit(Xb, yb)
    with pytest.raises(ParameterError, match="needs y"):
        enc_for(LabelMatrixContext(), "supervised").fit(Xb)


def test_batch_smaller_than_output_dimension(grid):
    X, P = grid
    with pytest.raises(ParameterError, match="smaller than the output dimension"):
        enc_for(MatrixContext(P), output_dim=64, batch_size=32).fit(X)
    with pytest.raises(ParameterError, match="smaller than the output dimension"):
        enc_for(MatrixContext(P), output_dim=200).fit(X)   # full batch of 120 rows


def test_nan_inputs(grid):
    X, P = grid
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        enc_for(MatrixContext(P)).fit(Xn)
    enc = enc_for(MatrixContext(P), epochs=2).fit(X)
    with pytest.raises(ParameterError, match="NaN"):
        enc.transform(Xn)
    with pytest.raises(ParameterError, match="X has 1 features, but ContextureEncoder is "
                                             "expecting 2 features"):
        enc.transform(X[:, :1])


def test_scikit_learn_input_messages(grid):
    X, P = grid
    enc = enc_for(MatrixContext(P), epochs=2).fit(X)
    import scipy.sparse as sp

    cases = [(X[:, 0], "Expected a 2-dimensional container|Expected 2D array"),
             (X[:0], "0 sample"),
             (X[:, :0], "0 feature"),
             (X + 1j, "Complex data not supported")]
    for bad, match in cases:
        with pytest.raises(ParameterError, match=match):
            enc.transform(bad)
        with pytest.raises(ValueError, match=match):          # ParameterError is a ValueError
            enc_for(MatrixContext(P), epochs=2).fit(bad)
    for call in (enc.transform, enc_for(MatrixContext(P), epochs=2).fit):
        with pytest.raises(TypeError, match="[Ss]parse"):     # scikit-learn's own type
            call(sp.csr_matrix(X))
    with pytest.raises(ParameterError, match="1 sample"):
        enc_for(MatrixContext(P[:1, :1]), epochs=2).fit(X[:1])


def test_transform_is_row_wise_and_precision_free(grid):
    X, P = grid
    enc = enc_for(MatrixContext(P), epochs=10).fit(X)
    full = enc.transform(X)
    np.testing.assert_allclose(enc.transform(X[:7]), full[:7], rtol=0, atol=1e-12)
    np.testing.assert_allclose(enc.transform(X[::-1]), full[::-1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(enc.transform(X.astype(np.float32)),
                               enc.transform(X.astype(np.float32).astype(np.float64)),
                               rtol=0, atol=0)
    assert full.dtype == np.float64


def test_feature_names_and_pandas_output(grid):
    pd = pytest.importorskip("pandas")
    X, P = grid
    frame = pd.DataFrame(X, columns=["a", "b"])
    enc = enc_for(MatrixContext(P), epochs=5).fit(frame)
    assert list(enc.feature_names_in_) == ["a", "b"]
    names = list(enc.get_feature_names_out())
    assert names == ["mu1", "mu2"]
    out = enc.set_output(transform="pandas").transform(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == names
    with pytest.raises(ParameterError, match="input_features"):
        enc.get_feature_names_out(["x", "y"])


def test_components_below_the_noise_floor_are_not_returned():
    # a label context has s = 1 (C − 1 times) and then 0: asking for more components than that
    # returns the resolved ones only, with every eigenvalue estimate kept
    Xb, yb = blobs_problem(n=150)
    enc = enc_for(LabelMatrixContext(), "supervised", n_components=4, output_dim=6,
                  epochs=300).fit(Xb, yb)
    assert enc.n_components_resolved_ == 2
    assert enc.transform(Xb).shape == (150, 2)
    assert enc.eigenvalues_.shape == (4,)
    np.testing.assert_allclose(enc.eigenvalues_[:2], 1.0, atol=0.01)
    assert np.all(enc.eigenvalues_[2:] <= enc.extraction_.noise_floor)
    assert list(enc.get_feature_names_out()) == ["mu1", "mu2"]


def test_noise_floor_of_a_knn_context_is_about_one_over_k():
    X = np.random.default_rng(0).normal(size=(300, 3))
    enc = enc_for("knn(k=10)", "kise", epochs=2).fit(X)
    # k_X⁺(x, x) = Σ_a P(a|x)² / P_A(a) ≈ k (1/k)² n = n/k, so ε = Σ_i k(x_i, x_i)/n² ≈ 1/k
    assert enc.extraction_.noise_floor == pytest.approx(0.1, rel=0.3)


def test_diverging_loss_names_the_step(grid):
    X, P = grid
    with pytest.raises(TrainingError, match=r"at step \d+ \(epoch \d+\)"):
        enc_for(MatrixContext(P), "nested", lr=1e12, epochs=50).fit(X)


@pytest.mark.parametrize(("kw", "match"), [
    ({"objective": "simclr"}, "unknown objective"),
    ({"objective": "vicreg(gamma=3)"}, "unknown parameter"),
    ({"objective": "kise(c_std=-1)"}, "non-negative"),
    ({"objective": "kise(("}, "cannot parse"),
    ({"n_components": 0}, "n_components"),
    ({"output_dim": 1}, "output_dim"),
    ({"lr": -1.0}, "lr"),
    ({"epochs": 0}, "epochs"),
    ({"device": "tpu"}, "device"),
    ({"n_threads": 0}, "n_threads"),
    ({"activation": "sigmoid"}, "activation"),
    ({"architecture": "transformer"}, "architecture"),
    ({"patience": 3}, "validation_fraction"),
    ({"validation_fraction": 1.5}, "validation_fraction"),
])
def test_bad_parameters(grid, kw, match):
    X, P = grid
    with pytest.raises((ParameterError, SpecError), match=match):
        enc_for(MatrixContext(P), **kw).fit(X)


# --- model files --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory, grid):
    X, P = grid
    enc = enc_for(MatrixContext(P), "kise", epochs=20).fit(X)
    path = tmp_path_factory.mktemp("model") / "enc"
    enc.save(path)
    return enc, path, X


def test_round_trip(saved):
    enc, path, X = saved
    back = ContextureEncoder.load(path)
    assert back.n_components_resolved_ == enc.n_components_resolved_
    assert back.extraction_.noise_floor == pytest.approx(enc.extraction_.noise_floor)
    np.testing.assert_allclose(back.transform(X), enc.transform(X), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(back.eigenvalues_, enc.eigenvalues_)
    assert back.objective_ == "kise" and back.get_params()["hidden"] == 32
    assert back.history_["train"] == pytest.approx(enc.history_["train"])
    np.testing.assert_array_equal(back.extraction_.B, enc.extraction_.B)


def test_round_trip_with_unresolved_components(tmp_path):
    Xb, yb = blobs_problem(n=150)
    enc = enc_for(LabelMatrixContext(), "supervised", n_components=4, output_dim=6,
                  epochs=20).fit(Xb, yb)
    enc.save(tmp_path / "m")
    back = load_encoder(tmp_path / "m")
    assert back.n_components_resolved_ == enc.n_components_resolved_ == 2
    np.testing.assert_allclose(back.transform(Xb), enc.transform(Xb), rtol=1e-6, atol=1e-6)


def _copy(path, tmp_path):
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(path, dst)
    return dst


def test_missing_model(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_encoder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="missing config.json"):
        load_encoder(tmp_path / "empty")


def test_truncated_weights(saved, tmp_path):
    _, path, _ = saved
    dst = _copy(path, tmp_path)
    data = (dst / WEIGHTS_NAME).read_bytes()
    (dst / WEIGHTS_NAME).write_bytes(data[: len(data) // 2])
    # the header is checked (and found short of its tensors) before the file is hashed
    with pytest.raises(ModelFileError, match="does not match the hash|not fully covered"):
        load_encoder(dst)
    (dst / WEIGHTS_NAME).unlink()
    with pytest.raises(ModelFileError, match="missing model.safetensors"):
        load_encoder(dst)


def test_truncated_or_bad_config(saved, tmp_path):
    _, path, _ = saved
    dst = _copy(path, tmp_path)
    text = (dst / CONFIG_NAME).read_text()
    (dst / CONFIG_NAME).write_text(text[: len(text) // 2])
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_encoder(dst)
    cfg = json.loads(text)
    cfg["format_version"] = 99
    (dst / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="format version 99 is not supported"):
        load_encoder(dst)
    cfg = json.loads(text)
    cfg["format"] = "something-else"
    (dst / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="not a contextures encoder"):
        load_encoder(dst)


def test_config_and_tensors_must_agree(saved, tmp_path):
    _, path, _ = saved
    dst = _copy(path, tmp_path)
    cfg = json.loads((dst / CONFIG_NAME).read_text())
    cfg["network"]["hidden"] = 1 << 19          # would allocate a huge network if trusted
    (dst / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="shape"):
        load_encoder(dst)
    cfg["network"]["hidden"] = -4
    (dst / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="hidden"):
        load_encoder(dst)


def test_hostile_pickle_is_never_executed(saved, tmp_path):
    _, path, _ = saved
    dst = _copy(path, tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = pickle.dumps(Evil())
    (dst / WEIGHTS_NAME).write_bytes(payload)
    cfg = json.loads((dst / CONFIG_NAME).read_text())
    import hashlib

    cfg["weights_sha256"] = hashlib.sha256(payload).hexdigest()   # even with a matching hash
    (dst / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        load_encoder(dst)
    assert not marker.exists()


def test_round_trip_of_a_t_psi_encoder_refits_the_context(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    enc = enc_for("knn(k=10)", "vicreg", epochs=20).fit(X)
    assert enc.features_ == "t_psi"
    X_new = rng.normal(size=(20, 3))
    enc.save(tmp_path / "m")
    back = load_encoder(tmp_path / "m")
    np.testing.assert_allclose(back.transform(X_new), enc.transform(X_new), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(back.transform(X), enc.transform(X), rtol=1e-5, atol=1e-6)


def test_deeply_nested_or_non_directory_model_files(saved, tmp_path):
    _, path, _ = saved
    dst = _copy(path, tmp_path)
    (dst / CONFIG_NAME).write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ModelFileError, match="not valid JSON|JSON object"):
        load_encoder(dst)
    with pytest.raises(ModelFileError, match="expected a model directory"):
        load_encoder(path / CONFIG_NAME)


def test_model_files_without_input_standardisation_still_load(saved, tmp_path):
    # files written before the networks standardised their inputs hold no encoder.shift/scale
    from safetensors.torch import load_file

    enc, path, X = saved
    dst = _copy(path, tmp_path)
    tensors = load_file(str(dst / WEIGHTS_NAME))
    tensors["encoder.shift"].zero_()
    tensors["encoder.scale"].fill_(1.0)
    identity = load_encoder(_rewrite(dst, tensors)).transform(X)
    del tensors["encoder.shift"], tensors["encoder.scale"]
    np.testing.assert_array_equal(load_encoder(_rewrite(dst, tensors)).transform(X), identity)
    tensors["encoder.scale"] = torch.zeros(X.shape[1])
    tensors["encoder.shift"] = torch.zeros(X.shape[1])
    with pytest.raises(ModelFileError, match="must be positive"):
        load_encoder(_rewrite(dst, tensors))


def _rewrite(dst, tensors):
    import hashlib

    from safetensors.torch import save_file

    save_file(tensors, str(dst / WEIGHTS_NAME))
    cfg = json.loads((dst / CONFIG_NAME).read_text())
    cfg["tensors"] = {k: list(v.shape) for k, v in tensors.items()}
    cfg["weights_sha256"] = hashlib.sha256((dst / WEIGHTS_NAME).read_bytes()).hexdigest()
    (dst / CONFIG_NAME).write_text(json.dumps(cfg))
    return dst
