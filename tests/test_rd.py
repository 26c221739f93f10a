"""Rate-distortion quantizer and Fisher diagonal."""
from __future__ import annotations

import numpy as np
import pytest

from tinycompress.compress.qparams import quantize_weights
from tinycompress.compress.fisher import fisher_diagonal, fisher_for_graph, graph_fisher_matrices
from tinycompress.compress.quantize import quantize
from tinycompress.compress.rd import entropy_bits, level_bits, rd_quantize
from tinycompress.reference import int_ref


def random_case(seed=0, rows=12, cols=40):
    rng = np.random.default_rng(seed)
    w = rng.laplace(scale=0.1, size=(rows, cols))
    w[rng.random(w.shape) < 0.3] = 0.0  # pruned weights
    fisher = rng.gamma(0.5, 1.0, size=w.shape)
    return w, fisher


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("per_channel", [True, False])
def test_lambda_zero_is_uniform_rounding(bits, per_channel):
    w, f = random_case(bits)
    q, s = rd_quantize(w, f, bits, 0.0, per_channel)
    q_ref, s_ref = quantize_weights(w, bits, per_channel)
    np.testing.assert_array_equal(q, q_ref)
    np.testing.assert_array_equal(s, s_ref)
    assert q.dtype == np.int8


@pytest.mark.parametrize("bits", [3, 4, 6])
def test_positive_lambda_lowers_entropy_and_distinct_levels(bits):
    w, f = random_case(10 + bits)
    q_u, s_u = quantize_weights(w, bits, True)
    q, s = rd_quantize(w, f, bits, 1e-3, True)
    np.testing.assert_array_equal(s, s_u)  # same steps: drops into the same pipeline
    assert entropy_bits(q) < entropy_bits(q_u)
    assert len(np.unique(q)) <= len(np.unique(q_u))
    assert np.count_nonzero(q == 0) > np.count_nonzero(q_u == 0)
    assert np.all(q[w == 0] == 0)  # pruned stays pruned
    qmax = 2 ** (bits - 1) - 1
    assert np.abs(q).max() <= qmax
    # each level is floor, ceil or 0 of w/step
    t = w / s[:, None]
    assert np.all((q == np.floor(t)) | (q == np.ceil(t)) | (q == 0))


def test_larger_lambda_never_more_bits():
    w, f = random_case(3)
    ent = [entropy_bits(rd_quantize(w, f, 4, lam)[0]) for lam in (0.0, 1e-4, 1e-3, 1e-2, 1e-1)]
    assert all(a >= b - 1e-12 for a, b in zip(ent, ent[1:])), ent


def test_hand_derived_small_case():
    # bits 3 -> qmax 3; row max 3.0 -> step 1.0. Uniform: [3, 1, 0, 0].
    # Rate model from the uniform levels {3:1, 1:1, 0:2}, +0.5 per each of 7 levels:
    # p(0) = 2.5/7.5 -> 1.585 b, p(1) = p(3) = 1.5/7.5 -> 2.32 b, p(2) = 0.5/7.5 -> 3.91 b.
    # lam = 0.01: w=1.4 with F=1e-6: level 1 costs 1.6e-7 + 0.0232, level 0 costs
    # 1.96e-6 + 0.0159 -> 0. w=0.2, F=1: level 0 (0.04 + 0.016) beats 1 (0.64 + 0.023).
    # w=3.0, F=1: level 3 costs only its rate. Second pass {3:1, 0:3} keeps the choice.
    w = np.array([[3.0, 1.4, 0.2, 0.2]])
    f = np.array([[1.0, 1e-6, 1.0, 1.0]])
    np.testing.assert_array_equal(rd_quantize(w, f, 3, 0.0)[0], [[3, 1, 0, 0]])
    np.testing.assert_array_equal(rd_quantize(w, f, 3, 0.01)[0], [[3, 0, 0, 0]])
    np.testing.assert_allclose(level_bits(np.array([3, 1, 0, 0]), 3)[[3, 4, 5]],
                               [np.log2(7.5 / 2.5), np.log2(7.5 / 1.5), np.log2(7.5 / 0.5)])


def softmax_regression(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((2, 3, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(4, activation="softmax", name="out")])
    rng = np.random.default_rng(seed)
    model.get_layer("out").kernel.assign(rng.normal(size=(6, 4)).astype("float32"))
    x = rng.normal(size=(37, 2, 3, 1)).astype("float32")
    return model, x


def numpy_fisher(model, x, y):
    # log p_y = z_y - logsumexp(z), z = x W + b  =>  d/dW[j,k] = x_j (1[k=y] - p_k)
    w, b = (np.asarray(v, np.float64) for v in model.get_layer("out").get_weights())
    xf = x.reshape(len(x), -1).astype(np.float64)
    z = xf @ w + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = xf[:, :, None] * (np.eye(4)[y][:, None, :] - p[:, None, :])
    return np.mean(grad ** 2, axis=0), np.argmax(p, axis=1)


def test_fisher_diagonal_matches_closed_form():
    model, x = softmax_regression()
    y = np.arange(len(x)) % 4
    expected, predicted = numpy_fisher(model, x, y)
    got = fisher_diagonal(model, x, y, batch_size=10)  # batches of 10, 10, 10, 7
    assert set(got) == {"out"} and got["out"].shape == (6, 4)
    np.testing.assert_allclose(got["out"], expected, rtol=1e-4, atol=1e-9)
    assert np.all(got["out"] > 0)
    # one-hot labels give the same; y=None uses the model's own argmax labels
    np.testing.assert_allclose(fisher_diagonal(model, x, np.eye(4)[y])["out"], expected, rtol=1e-4)
    expected_pred, _ = numpy_fisher(model, x, predicted)
    np.testing.assert_allclose(fisher_diagonal(model, x)["out"], expected_pred, rtol=1e-4, atol=1e-9)


def test_fisher_for_graph_undoes_batchnorm_folding():
    import keras

    from tinycompress.frontend.keras import from_keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, name="conv"),
                              keras.layers.BatchNormalization(name="bn"), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax", name="out")])
    gamma, beta = np.array([2.0, -0.5, 1.0]), np.array([0.1, 0.2, 0.3])
    mean, var = np.array([0.3, -0.2, 0.0]), np.array([4.0, 0.25, 1.0])
    model.get_layer("bn").set_weights([gamma, beta, mean, var])
    x = np.random.default_rng(1).normal(size=(20, 6, 6, 1)).astype("float32")
    fisher = fisher_diagonal(model, x)
    got = fisher_for_graph(from_keras(model), model, fisher)
    # folded kernel = kernel * gamma / sqrt(var + eps) per output channel, so its
    # Fisher is the raw Fisher divided by that factor squared
    s = gamma / np.sqrt(var + model.get_layer("bn").epsilon)
    np.testing.assert_allclose(got["conv"], fisher["conv"] / s ** 2, rtol=1e-4)
    np.testing.assert_allclose(got["out"], fisher["out"], rtol=1e-6)


@pytest.mark.slow
def test_sweep_lambda_on_digits_keeps_accuracy_and_saves_bytes():
    import keras

    from tinycompress.compress.evaluate import Evaluator, float_accuracy
    from tinycompress.compress.lambda_sweep import sweep_lambda
    from tinycompress.compress.plan import default_plan
    from tinycompress.data import DIGITS_MODEL, Dataset, load_digits_split
    from tinycompress.frontend import from_keras

    split = load_digits_split()
    model = keras.models.load_model(DIGITS_MODEL)
    graph = from_keras(model)
    fisher = graph_fisher_matrices(graph, model, split.x_train[:200], split.y_train[:200])
    xv, yv = split.x_test[:150], split.y_test[:150]
    ev = Evaluator(graph, split.x_train[:100], Dataset(xv, yv), fisher)
    plan = default_plan(graph, bits=4, per_channel=False, quantizer="rd")
    uniform = default_plan(graph, bits=4, per_channel=False)
    qg = quantize(graph, split.x_train[:100], 4, per_channel=False)  # independent of the plan
    floor = int_ref.evaluate(qg, xv, yv) - 0.01
    float_acc = float_accuracy(graph, Dataset(xv, yv))
    # the budget: 1 pt below uniform rounding's accuracy, as a drop below the float model's
    best, curve = sweep_lambda(plan, ev, 100 * (float_acc - floor), factors=(0.1, 1.0, 5.0))
    # lambda 0 is uniform rounding: same bytes and accuracy as the uniform plan and quantize()
    assert curve[0][0] == 0.0 and curve[0][2] == ev.weight_bytes(uniform)
    assert curve[0][1] == pytest.approx(100 * (float_acc - int_ref.evaluate(qg, xv, yv)))
    assert best.lam in [c[0] for c in curve]
    assert int_ref.evaluate(ev.apply(best).qgraph, xv, yv) >= floor - 1e-9
    assert ev.weight_bytes(best) <= ev.weight_bytes(uniform)
    # bytes shrink as lambda grows (more zeros, fewer distinct levels)
    sizes = [c[2] for c in curve]
    assert sizes[-1] < sizes[0]
