"""Samplers against slow per-example reference implementations, and parameter validation."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from interp.models import ModelConfig, build_model
from interp.tasks import TASKS, TaskError, evaluate, make_task
from interp.tasks.counting import BOS, CLOSE, FIRST_QUERY, ONE, OPEN, ZERO
from interp.tasks.parity import randperm_head
from interp.validation import MAX_SEED

SETTINGS = settings(max_examples=25, deadline=None)


def reference_parity(bits, subset):
    return sum(bits[j] for j in subset) % 2


@SETTINGS
@given(n=st.integers(1, 60), data=st.data(), seed=st.integers(0, 10_000))
def test_parity_sampler_matches_reference(n, data, seed):
    k = data.draw(st.integers(1, n))
    task = make_task("parity", n=n, k=k, seed=seed % 97)
    batch = task.sample(64, seed)
    assert batch.inputs.shape == (64, n + 1)
    assert (batch.inputs[:, n] == 2).all() and batch.readout.tolist() == [n]
    assert len(task.subset) == k and len(set(task.subset)) == k
    for i in range(64):
        bits = batch.inputs[i, :n].tolist()
        assert set(bits) <= {0, 1}
        assert batch.targets[i].item() == reference_parity(bits, task.subset)
        relevant = [j for j in range(n + 1) if batch.relevant[i, 0, j]]
        assert relevant == list(task.subset)


@SETTINGS
@given(n=st.integers(1, 3000), data=st.data(), seed=st.one_of(st.integers(0, 100), st.integers(0, MAX_SEED)))
def test_the_default_subset_is_torchs_randperm_drawn_without_torch(n, data, seed):
    """A parity task's default subset is the head of ``torch.randperm`` seeded with its seed, as it always was
    (the shipped runs, the experiments' subsets), drawn in the standard library so that making one (``interp
    tasks``) loads no torch."""
    k = data.draw(st.integers(1, n))
    assert randperm_head(n, k, seed) == torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k].tolist()


def test_the_documented_subsets_are_drawn():
    assert make_task("parity").subset == (4, 5, 13)  # interp tasks lists it
    assert make_task("parity", n=16, k=3, seed=2).subset == (1, 8, 13)  # the minimal preset's (families/parity.py)
    assert make_task("parity", n=16, k=3, seed=0).subset == (9, 10, 12)


def test_parity_bits_are_balanced():
    batch = make_task("parity", n=20, k=3).sample(8192, 1)
    assert abs(batch.inputs[:, :20].float().mean().item() - 0.5) < 0.02
    assert abs(batch.targets.float().mean().item() - 0.5) < 0.03


def test_parity_subset_is_drawn_from_seed_and_given_subsets_are_kept():
    assert make_task("parity", seed=3).subset == make_task("parity", seed=3).subset
    assert make_task("parity", seed=3).subset != make_task("parity", seed=4).subset
    task = make_task("parity", n=10, subset=[7, 2])
    assert task.subset == (2, 7) and task.k == 2


def reference_selection(features, task):
    """Decode the subset from the raw features and average the selected contents."""
    T, d, q = task.T, task.d, task.q
    blocks = task.blocks
    query = features[T]
    assert query[blocks["is_query"]].item() == 1.0
    if task.positions == "learned":
        chosen = [j for j in range(T) if query[blocks["subset"]][j] > 0.5]
    else:  # s is the sum of the selected codes; T <= code_dim independent codes make the weights unique
        s = query[blocks["subset"]]
        weights = torch.linalg.lstsq(features[:T, blocks["position"]].T.double(), s.double()[:, None]).solution[:, 0]
        chosen = [j for j in range(T) if weights[j] > 0.5]
    assert len(chosen) == q
    return sum(features[j, :d] for j in chosen) / q, chosen


@SETTINGS
@given(T=st.integers(1, 40), d=st.integers(1, 6), data=st.data(), seed=st.integers(0, 10_000),
       positions=st.sampled_from(["learned", "orthonormal", "gaussian", "fixed"]))
def test_selection_sampler_matches_reference(T, d, data, seed, positions):
    q = data.draw(st.integers(1, T))
    task = make_task("selection", T=T, d=d, q=q, positions=positions, code_dim=max(T, 8))
    batch = task.sample(16, seed)
    assert batch.inputs.shape == (16, T + 1, task.d_vocab) and batch.readout.tolist() == [T]
    for i in range(16):
        target, chosen = reference_selection(batch.inputs[i], task)
        torch.testing.assert_close(batch.targets[i], target, rtol=1e-5, atol=1e-5)
        assert [j for j in range(T + 1) if batch.relevant[i, 0, j]] == chosen
    if positions == "orthonormal":
        codes = batch.info["codes"]
        gram = codes @ codes.transpose(1, 2)
        torch.testing.assert_close(gram, torch.eye(T).expand_as(gram), atol=1e-5, rtol=0)


def test_selection_zero_predictor_has_nmse_one():
    task = make_task("selection")
    batch = task.sample(8192, 0)
    logits = torch.zeros(len(batch), task.T + 1, task.d)
    assert abs(task.evaluate(logits, batch)["nmse"] - 1.0) < 0.03


def reference_counting(tokens, R):
    """Walk the sequence: counts of 1s inside each region and the positions of those 1s."""
    counts, positions, region = [0] * R, [[] for _ in range(R)], -1
    inside = False
    assert tokens[0] == BOS
    for pos, t in enumerate(tokens[1:-R], start=1):
        if t == OPEN:
            region, inside = region + 1, True
        elif t == CLOSE:
            inside = False
        elif t == ONE and inside:
            counts[region] += 1
            positions[region].append(pos)
        else:
            assert t in (ZERO, ONE)
    assert region == R - 1 and not inside
    assert tokens[-R:] == list(range(FIRST_QUERY, FIRST_QUERY + R))
    return counts, positions


@SETTINGS
@given(R=st.integers(1, 8), extra=st.integers(0, 60), p_one=st.floats(0, 1), seed=st.integers(0, 10_000))
def test_counting_sampler_matches_reference(R, extra, p_one, seed):
    L = 2 * R + extra
    task = make_task("counting", L=L, R=R, p_one=p_one, max_count=L)
    batch = task.sample(32, seed)
    assert batch.inputs.shape == (32, 1 + L + R)
    assert batch.readout.tolist() == list(range(1 + L, 1 + L + R))
    for i in range(32):
        counts, positions = reference_counting(batch.inputs[i].tolist(), R)
        assert batch.targets[i].tolist() == counts
        for r in range(R):
            relevant = [j for j in range(1 + L + R) if batch.relevant[i, r, j]]
            assert relevant == [0] + positions[r]


def test_counting_delimiter_context_is_bos_and_delimiters_so_far():
    task = make_task("counting", L=12, R=2)
    batch = task.sample(8, 0)
    context = task.delimiter_context(batch)
    for i in range(8):
        tokens = batch.inputs[i].tolist()
        for pos in range(len(tokens)):
            expected = [j for j in range(pos + 1) if tokens[j] in (BOS, OPEN, CLOSE)]
            assert [j for j in range(len(tokens)) if context[i, pos, j]] == expected


@pytest.mark.parametrize("name", ["parity", "selection", "counting"])
def test_same_seed_same_batch(name):
    task = make_task(name)
    a, b, c = task.sample(32, 7), task.sample(32, 7), task.sample(32, 8)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    for key in a.info:
        assert torch.equal(a.info[key], b.info[key]), key
    assert not torch.equal(a.inputs, c.inputs)


def batch_tensors(batch):
    return {"inputs": batch.inputs, "targets": batch.targets, "readout": batch.readout, "relevant": batch.relevant,
            **{f"info.{key}": value for key, value in batch.info.items()}}


@pytest.mark.parametrize("name, params", [("parity", {}), ("selection", {}), ("selection", {"positions": "orthonormal"}),
                                          ("counting", {})])
def test_batch_to_moves_every_tensor(name, params):
    """``Batch.to`` moves every field, ``info`` included, keeping shapes and dtypes. The ``meta`` device stands
    in for an accelerator on a CPU-only machine: a field left behind would still be on the CPU."""
    batch = make_task(name, **params).sample(8, 0)
    before = batch_tensors(batch)
    moved = batch_tensors(batch.to("meta"))
    assert moved.keys() == before.keys() and len(batch.info) > 0
    for key, tensor in moved.items():
        assert tensor.device.type == "meta", key
        assert tensor.dtype == before[key].dtype and tensor.shape == before[key].shape, key
    back = batch_tensors(batch.to("cpu"))
    for key, tensor in back.items():
        assert tensor.device.type == "cpu" and torch.equal(tensor, before[key]), key


@pytest.mark.parametrize(
    "name, params, parameter",
    [
        ("parity", {"n": 5, "k": 6}, "k"),
        ("parity", {"n": 0}, "n"),
        ("parity", {"n": -3}, "n"),
        ("parity", {"n": 8, "subset": [1, 9]}, "subset"),
        ("parity", {"n": 8, "subset": [1, 1]}, "subset"),
        ("parity", {"n": 8, "k": 3, "subset": [1, 2]}, "k"),
        ("parity", {"n": 2.5}, "n"),
        ("selection", {"T": 4, "q": 5}, "q"),
        ("selection", {"d": 0}, "d"),
        ("selection", {"T": -1}, "T"),
        ("selection", {"positions": "sinusoidal"}, "positions"),
        ("selection", {"positions": "orthonormal", "T": 80, "code_dim": 64}, "T"),
        ("counting", {"L": 5, "R": 3}, "L"),
        ("counting", {"R": 9, "max_regions": 8}, "R"),
        ("counting", {"R": 0}, "R"),
        ("counting", {"p_one": 1.5}, "p_one"),
        ("counting", {"p_one": float("nan")}, "p_one"),
        ("counting", {"p_one": float("inf")}, "p_one"),
        ("counting", {"p_one": True}, "p_one"),
        ("counting", {"p_one": "0.5"}, "p_one"),
        ("counting", {"L": 400}, "max_len"),
        ("counting", {"L": "40"}, "L"),
        ("counting", {"max_count": None}, "max_count"),
        ("parity", {"n": True}, "n"),
        ("parity", {"n": 2**30}, "n"),
        ("parity", {"seed": 2**40}, "seed"),
        ("parity", {"seed": -1}, "seed"),
        ("parity", {"subset": "1,2"}, "subset"),
        ("parity", {"subset": [1.0, 2.0]}, "subset"),
        ("selection", {"T": "16"}, "T"),
        ("selection", {"q": 1.5}, "q"),
        ("selection", {"positions": ["learned"]}, "positions"),
        ("selection", {"positions": "orthonormal", "code_dim": 0}, "code_dim"),
    ],
)
def test_invalid_parameters_name_the_parameter(name, params, parameter):
    with pytest.raises(TaskError, match=rf"\b{parameter}\b"):
        make_task(name, **params)


def test_replace_validates_again():
    task = make_task("parity", n=8, k=2)
    with pytest.raises(TaskError, match="subset"):
        task.replace(subset=5)
    with pytest.raises(TaskError, match="subset positions"):
        task.replace(n=3)
    with pytest.raises(TaskError, match="unknown parameter"):
        task.replace(width=2)


def test_messages_stay_one_short_line():
    with pytest.raises(TaskError) as raised:
        make_task("selection", positions="x" * 500 + "\n")
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 200


def test_unknown_task_and_key():
    with pytest.raises(TaskError, match="unknown task 'sorting'.*parity"):
        make_task("sorting")
    with pytest.raises(TaskError, match="unknown parameter.*'?bits'?"):
        make_task("parity", bits=3)
    with pytest.raises(TaskError, match="batch_size"):
        make_task("parity").sample(0)


@pytest.mark.parametrize("name, params", [(name, {}) for name in TASKS] + [("counting", {"R": 4, "R_min": 1})])
@settings(max_examples=4, deadline=None)
@given(chunk=st.integers(1, 40), samples=st.integers(1, 90))
def test_evaluation_does_not_depend_on_the_chunking(name, params, chunk, samples):
    """Chunks of any size score the same examples, weighted alike, as one pass over them all (counting with
    ``R_min`` asks a varying number of queries per example, so a mean of chunk means would weight it wrongly).
    Up to float rounding only: a matrix product need not round alike for different batch sizes."""
    task = make_task(name, **params)
    model = build_model(ModelConfig.for_task(task, d_model=16, n_heads=2, d_head=8, d_mlp=16))
    whole = evaluate(model, task, samples, seed=3, chunk=samples)
    assert evaluate(model, task, samples, seed=3, chunk=chunk) == pytest.approx(whole, rel=1e-5, abs=1e-7)
