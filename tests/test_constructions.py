"""Hand-built constructions: each piece alone, their assembly into a TL model, then each construction.

The constructions are checked on fresh random inputs over their parameter ranges (exact accuracy,
nMSE below the requested bound), through TL hooks (attention mass on the ground-truth positions),
through a checkpoint round trip, and against invalid requests.
"""

import json
import math

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from interp.checkpoint import load_checkpoint, save
from interp.constructions import (
    CONSTRUCTIONS,
    construct,
    counting,
    counting_close_bias,
    counting_paper,
    counting_paper_close_bias,
    parity,
    parity_frozen_attention,
    parity_parameter_count,
    selection,
)
from interp.constructions.parity import pointer_sharpness
from interp.constructions.pieces import (
    MLP,
    Head,
    ResidualBasis,
    assemble,
    block_weights,
    circular_pointer_head,
    discretiser,
    parity_zigzag,
    set_attention_head,
)
from interp.constructions.selection import BATCH_MARGIN, beta_for, expected_nmse
from interp.models import ModelConfig, build_model, trainable_parameters
from interp.tasks import TaskError, make_task
from interp.tasks.counting import BOS, CLOSE

FAST = settings(max_examples=25, deadline=None)
MODELS = settings(max_examples=10, deadline=None)


def readout_mass(model, batch, layer, relevant=None):
    """``[batch, heads, n_readout]``: attention mass each head puts on the relevant positions."""
    _, cache = model.run_with_cache(batch.inputs, names_filter=f"blocks.{layer}.attn.hook_pattern")
    pattern = cache[f"blocks.{layer}.attn.hook_pattern"][:, :, batch.readout]  # [B, H, R, P]
    relevant = batch.relevant if relevant is None else relevant
    return (pattern * relevant[:, None].float()).sum(-1)


# --- pieces alone -------------------------------------------------------------------------------


def test_residual_basis_names_directions_and_round_trips():
    basis = ResidualBasis().add("one").add("in_region", range(1, 4)).add("count")
    assert basis.labels == ["one", "in_region[1]", "in_region[2]", "in_region[3]", "count"]
    assert basis.d_model == 5 and basis["in_region[2]"] == 2 and basis.block("in_region") == [1, 2, 3]
    assert basis.vector({"count": 2.0, "one": 1.0}).tolist() == [1, 0, 0, 0, 2]
    assert basis.rows([{"one": 1.0}, {}]).shape == (2, 5)
    assert basis.read(torch.arange(5.0), "count").item() == 4.0
    again = ResidualBasis.from_labels(basis.labels)
    assert again.labels == basis.labels and again.block("in_region") == [1, 2, 3] and again["count"] == 4
    with pytest.raises(ValueError):
        basis.add("count")
    with pytest.raises(KeyError, match="no residual direction"):
        basis["nope"]


@FAST
@given(members=st.lists(st.booleans(), min_size=2, max_size=40).filter(any), seed=st.integers(0, 1000))
def test_set_attention_head_is_uniform_on_its_set(members, seed):
    basis = ResidualBasis().add("one").add("member").add("value").add("out")
    P, beta = len(members), 25.0
    resid = torch.zeros(P, basis.d_model)
    resid[:, basis["one"]] = 1.0
    resid[:, basis["member"]] = torch.tensor(members, dtype=torch.float32)
    resid[:, basis["value"]] = torch.randn(P, generator=torch.Generator().manual_seed(seed))
    head = set_attention_head(basis, match={("one", "member"): 1.0}, copy={("value", "out"): 1.0}, beta=beta)
    pattern = head.pattern(resid)[-1]
    in_set = torch.tensor(members)
    leak_bound = P * math.exp(-beta)
    assert torch.allclose(pattern[in_set], torch.full_like(pattern[in_set], 1 / in_set.sum()), atol=leak_bound)
    assert pattern[~in_set].sum() <= leak_bound
    written = head(resid)[-1]
    assert torch.allclose(written[basis["out"]], resid[in_set, basis["value"]].mean(), atol=1e-5)
    assert written[[basis["one"], basis["member"], basis["value"]]].abs().max() == 0  # writes only "out"


@FAST
@given(n=st.integers(2, 200), data=st.data())
def test_circular_pointer_head_points_at_its_position(n, data):
    target = data.draw(st.integers(0, n - 1))
    basis = ResidualBasis().add("cos").add("sin").add("query").add("bit").add("out")
    angles = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    resid = torch.zeros(n + 1, basis.d_model)
    resid[:n, basis["cos"]], resid[:n, basis["sin"]] = angles.cos().float(), angles.sin().float()
    resid[n, basis["query"]] = 1.0
    resid[:n, basis["bit"]] = 1.0
    head = circular_pointer_head(
        basis, query="query", code=("cos", "sin"), angle=float(angles[target]), sharpness=pointer_sharpness(n),
        value="bit", out="out",
    )
    pattern = head.pattern(resid)[n]
    assert pattern.argmax().item() == target and pattern[target] > 0.99
    assert head.W_Q[basis["query"]].norm() == pytest.approx(pointer_sharpness(n), rel=1e-5)


@FAST
@given(C=st.integers(1, 512), data=st.data())
def test_discretiser_steps_are_exact_within_a_quarter_gap(C, data):
    basis = ResidualBasis().add("x").add("at_least", range(1, C + 1))
    values = [1 / (n + 1) for n in range(C + 1)]
    mlp = discretiser(basis, "x", values, [{f"at_least[{m}]": 1.0} for m in range(1, C + 1)])
    assert mlp.d_mlp == 2 * C
    n = torch.tensor(data.draw(st.lists(st.integers(0, C), min_size=1, max_size=32)))
    gap = 1 / ((n + 1) * (n + 2)).double()  # to the nearer (next smaller) candidate
    jitter = (torch.rand(len(n), generator=torch.Generator().manual_seed(C)) - 0.5) * 0.9 * gap / 2
    resid = torch.zeros(len(n), basis.d_model)
    resid[:, basis["x"]] = (1 / (n + 1).double() + jitter).float()
    steps = mlp(resid)[:, basis.block("at_least")]
    expected = (n[:, None] >= torch.arange(1, C + 1)[None]).float()
    assert torch.allclose(steps, expected, atol=1e-4)
    assert mlp(resid)[:, basis["x"]].abs().max() == 0
    # Halfway between two candidate values the step is halfway.
    resid[:, basis["x"]] = (values[0] + values[1]) / 2
    assert mlp(resid)[0, basis["at_least[1]"]].item() == pytest.approx(0.5, abs=1e-5)


@pytest.mark.parametrize("k", [1, 2, 5, 10])
def test_parity_zigzag_maps_counts_to_parity(k):
    basis = ResidualBasis().add("count").add("parity")
    mlp = parity_zigzag(basis, "count", "parity", k)
    counts = torch.arange(k + 1, dtype=torch.float32)
    resid = torch.zeros(k + 1, 2)
    resid[:, 0] = counts
    assert torch.allclose(mlp(resid)[:, 1], counts % 2, atol=1e-5)
    for offset in (-0.99 / (4 * k), 0.99 / (4 * k)):  # the decision survives count errors below 1/(4k)
        resid[:, 0] = counts + offset
        assert ((mlp(resid)[:, 1] > 0.5) == (counts % 2 == 1)).all()


def test_assemble_reproduces_the_pieces_through_tl_hooks():
    """Random heads and MLP placed by block_weights/assemble compute what the pieces compute."""
    g = torch.Generator().manual_seed(0)
    basis = ResidualBasis().add("a", range(6))
    D = basis.d_model
    heads = [
        Head(torch.randn(D, 3, generator=g), torch.randn(D, 3, generator=g), torch.randn(D, 2, generator=g),
             torch.randn(2, D, generator=g)),
        Head(torch.randn(D, 1, generator=g), torch.randn(D, 1, generator=g), torch.randn(D, 4, generator=g),
             torch.randn(4, D, generator=g)),
    ]
    mlp = MLP(torch.randn(D, 5, generator=g), torch.randn(5, generator=g), torch.randn(5, D, generator=g),
              torch.randn(D, generator=g))
    cfg = ModelConfig(n_layers=1, n_heads=2, d_model=D, d_head=4, d_mlp=7, n_ctx=9, d_vocab=5, d_vocab_out=3)
    W_E, W_pos, W_U = torch.randn(5, D, generator=g), torch.randn(9, D, generator=g), torch.randn(D, 3, generator=g)
    weights = {"embed.W_E": W_E, "pos_embed.W_pos": W_pos, "unembed.W_U": W_U, **block_weights(cfg, 0, heads, mlp)}
    model = assemble(cfg, weights, basis, name="random", params={"seed": 0})
    assert model.residual_labels == basis.labels and model.construction == {"name": "random", "params": {"seed": 0}}

    tokens = torch.randint(0, 5, (3, 9), generator=g)
    logits, cache = model.run_with_cache(tokens)
    resid = W_E[tokens] + W_pos
    attn_out = sum(h(resid, causal=True) for h in heads)
    assert torch.allclose(cache["blocks.0.hook_attn_out"], attn_out, atol=1e-4)
    assert torch.allclose(cache["blocks.0.attn.hook_pattern"][:, 1], heads[1].pattern(resid, causal=True), atol=1e-5)
    resid = resid + attn_out
    assert torch.allclose(cache["blocks.0.hook_mlp_out"], mlp(resid), atol=1e-4)
    assert torch.allclose(logits, (resid + mlp(resid)) @ W_U, rtol=1e-4, atol=1e-3)

    with pytest.raises(ValueError, match="unknown weight key"):
        assemble(cfg, {"blocks.0.attn.W_X": W_E}, basis, name="x", params={})
    with pytest.raises(ValueError, match="shape"):
        assemble(cfg, {"embed.W_E": W_E.T}, basis, name="x", params={})


# --- parity ---------------------------------------------------------------------------------------


@MODELS
@given(n=st.integers(4, 200), data=st.data(), seed=st.integers(0, 10_000))
@example(n=200, data=None, seed=0)
def test_parity_construction_is_exact_and_points_at_the_subset(n, data, seed):
    k = 10 if data is None else data.draw(st.integers(1, min(10, n)))
    task = make_task("parity", n=n, k=k, seed=seed)
    model = parity(task)
    batch = task.sample(256, seed + 1)
    assert task.evaluate(model(batch.inputs), batch)["accuracy"] == 1.0
    assert readout_mass(model, batch, 0).min() >= 0.99  # every head, on S
    assert model.cfg.n_heads == k and model.cfg.d_mlp == k


@pytest.mark.parametrize("n", [1, 2, 3])
def test_parity_construction_covers_tiny_n(n):
    task = make_task("parity", n=n, k=n)
    batch = task.sample(64, 0)
    model = parity(task)
    assert task.evaluate(model(batch.inputs), batch)["accuracy"] == 1.0
    assert readout_mass(model, batch, 0).min() >= 0.99


def test_parity_scale_controls_head_sharpness():
    task = make_task("parity", n=50, k=5, seed=3)
    batch = task.sample(2048, 0)
    blunt = parity(task, scale=0.3)
    assert readout_mass(blunt, batch, 0).min() < 0.9
    assert task.evaluate(blunt(batch.inputs), batch)["accuracy"] < 1.0


def test_parity_parameter_count_does_not_depend_on_n():
    counts = {n: parity_parameter_count(make_task("parity", n=n, k=4, seed=0)) for n in (8, 50, 200)}
    for n, count in counts.items():
        assert count["theory"] == count["in_model"] == 20 and count["theory_trainable"] == 8
        assert count["positional_code"] == 2 * n
    assert counts[8]["tensor_entries"] < counts[50]["tensor_entries"] < counts[200]["tensor_entries"]


def test_parity_frozen_attention_control_freezes_the_heads_only():
    configs = {n: parity_frozen_attention(make_task("parity", n=n, k=3, seed=0)) for n in (20, 200)}
    cfg = configs[20]
    assert cfg.freeze_attention and (cfg.n_heads, cfg.d_head, cfg.d_mlp, cfg.d_model) == (3, 2, 3, 7)
    models = {n: build_model(c, seed=1) for n, c in configs.items()}
    model = models[20]
    assert not model.blocks[0].attn.q.original_component.weight.requires_grad
    assert not model.pos_embed.original_component.weight.requires_grad
    assert model.blocks[0].mlp.original_component.fc_in.weight.requires_grad
    # Trainable: values, MLP, unembedding; their count does not grow with n either.
    sizes = {n: sum(p.numel() for p in trainable_parameters(m)) for n, m in models.items()}
    assert sizes[20] == sizes[200] > 0
    # Random attention is not the construction: near chance before training.
    task = make_task("parity", n=20, k=3, seed=0)
    batch = task.sample(2048, 0)
    assert task.evaluate(model(batch.inputs), batch)["accuracy"] < 0.6


# --- selection ------------------------------------------------------------------------------------


@MODELS
@given(
    T=st.integers(1, 256),
    data=st.data(),
    d=st.integers(1, 8),
    positions=st.sampled_from(["learned", "orthonormal"]),
    error=st.sampled_from([1e-2, 1e-4, 1e-6]),
)
@example(T=256, data=None, d=4, positions="learned", error=1e-4)
@example(T=256, data=None, d=4, positions="orthonormal", error=1e-4)
def test_selection_construction_meets_the_requested_error(T, data, d, positions, error):
    q = 8 if data is None else data.draw(st.integers(1, min(8, T)))
    task = make_task("selection", T=T, d=d, q=q, positions=positions, code_dim=T)
    model = selection(task, error=error)
    batch = task.sample(128, T)
    assert task.evaluate(model(batch.inputs), batch)["nmse"] < error
    params = model.construction["params"]
    assert params["expected_nmse"] <= error * BATCH_MARGIN * (1 + 1e-9)
    if error <= 1e-4:
        assert readout_mass(model, batch, 0).min() >= 0.99


def test_selection_orthonormal_serves_every_length_up_to_max_length():
    task = make_task("selection", T=16, d=8, q=3, positions="orthonormal", code_dim=128)
    model = selection(task, error=1e-4)  # max_length defaults to code_dim
    assert model.construction["params"]["max_length"] == 128
    for length in (3, 16, 64, 128):
        longer = task.replace(T=length)
        batch = longer.sample(64, length)
        assert longer.evaluate(model(batch.inputs), batch)["nmse"] < 1e-4
    # Built only for the trained length, the same error bound breaks at 8x the length.
    short = selection(task, error=1e-4, max_length=16)
    batch = task.replace(T=128).sample(64, 0)
    assert task.replace(T=128).evaluate(short(batch.inputs), batch)["nmse"] > 1e-4


@FAST
@given(length=st.integers(1, 4096), data=st.data(), error=st.floats(1e-8, 0.5))
def test_beta_for_inverts_expected_nmse(length, data, error):
    q = data.draw(st.integers(1, length))
    beta = beta_for(length, q, error)
    assert expected_nmse(length, q, beta) <= error * (1 + 1e-9)
    if beta > 0:  # smallest: a little less sharpness misses the bound
        assert expected_nmse(length, q, beta - 1e-3) > error
    assert expected_nmse(max(q, length // 2), q, beta) <= expected_nmse(length, q, beta)  # shorter is easier


def test_selection_explicit_beta():
    task = make_task("selection", T=32, d=4, q=2)
    needed = beta_for(32, 2, 1e-4)
    model = selection(task, error=1e-4, beta=needed + 0.01)
    assert model.construction["params"]["beta"] == pytest.approx(needed + 0.01)
    with pytest.raises(TaskError, match="beta"):
        selection(task, error=1e-4, beta=needed - 0.5)


# --- counting -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def counting_model():
    """One model serves every L and R: it is built for the context, region and count limits only."""
    task = make_task("counting", L=40, R=3, max_regions=8, max_count=64, max_len=600)
    return task, counting(task)


@MODELS
@given(R=st.integers(1, 8), data=st.data(), p_one=st.sampled_from([0.2, 0.5, 0.9]), seed=st.integers(0, 1000))
@example(R=8, data=None, p_one=0.5, seed=0)
def test_counting_construction_is_exact_with_bos_and_delimiter_attention(counting_model, R, data, p_one, seed):
    base, model = counting_model
    L = 512 if data is None else data.draw(st.integers(2 * R, 512))
    task = base.replace(L=L, R=R, p_one=p_one)
    batch = task.sample(16, seed)
    predicted = task.readout_logits(model(batch.inputs), batch).argmax(-1)
    within = batch.targets <= task.max_count
    assert (predicted[within] == batch.targets[within]).all()
    assert (predicted[~within] == task.max_count).all()  # larger counts saturate
    if within.all():
        assert task.evaluate(model(batch.inputs), batch)["accuracy"] == 1.0
    # Layer 1 at Q_r: the 1s of region r plus BOS. Layer 0 everywhere: BOS and the delimiters so far.
    assert readout_mass(model, batch, 1).min() >= 0.99
    _, cache = model.run_with_cache(batch.inputs, names_filter="blocks.0.attn.hook_pattern")
    context = task.delimiter_context(batch)[:, None].float()
    assert (cache["blocks.0.attn.hook_pattern"] * context).sum(-1).min() >= 0.99


def test_counting_construction_counts_up_to_a_large_max_count():
    task = make_task("counting", L=512, R=1, p_one=1.0, max_count=512, max_len=520)
    batch = task.sample(8, 0)
    assert batch.targets.max() > 400
    assert task.evaluate(counting(task)(batch.inputs), batch)["accuracy"] == 1.0


@pytest.fixture(scope="module")
def counting_paper_model(counting_model):
    base, _ = counting_model
    return base, counting_paper(base)


def cross_attention_mass(model, batch, relevant=None):
    """``[batch, heads, R]``: the decoder's cross-attention mass at each label Q_r on the relevant encoder positions."""
    _, cache = model.run_with_cache(batch.inputs, names_filter="decoder.0.cross_attn.hook_pattern")
    pattern = cache["decoder.0.cross_attn.hook_pattern"]  # [B, H, R, 1 + L]
    relevant = (batch.relevant if relevant is None else relevant)[:, :, : pattern.shape[-1]]
    return (pattern * relevant[:, None].float()).sum(-1)


@MODELS
@given(R=st.integers(1, 8), data=st.data(), p_one=st.sampled_from([0.2, 0.5, 0.9]), seed=st.integers(0, 1000))
@example(R=8, data=None, p_one=0.5, seed=0)
def test_counting_paper_construction_is_exact_with_bos_and_delimiter_attention(counting_paper_model, R, data, p_one,
                                                                              seed):
    base, model = counting_paper_model
    L = 512 if data is None else data.draw(st.integers(2 * R, 512))
    task = base.replace(L=L, R=R, p_one=p_one)
    batch = task.sample(16, seed)
    logits = model(batch.inputs)
    predicted = task.readout_logits(logits, batch).argmax(-1)
    within = batch.targets <= task.max_count
    assert (predicted[within] == batch.targets[within]).all()
    assert (predicted[~within] == task.max_count).all()  # larger counts saturate
    assert not logits[:, : 1 + L].any()  # the encoder's positions answer nothing
    # The cross-attention at Q_r: the 1s of region r plus BOS. The encoder everywhere: BOS and the delimiters so far.
    assert cross_attention_mass(model, batch).min() >= 0.99
    _, cache = model.run_with_cache(batch.inputs, names_filter="blocks.0.attn.hook_pattern")
    context = task.delimiter_context(batch)[:, None, : 1 + L, : 1 + L].float()
    assert (cache["blocks.0.attn.hook_pattern"] * context).sum(-1).min() >= 0.99


def test_counting_paper_construction_is_the_decoder_only_circuit_split_in_two(counting_model, counting_paper_model):
    """Same residual basis, same heads and MLPs: the encoder is layer 0, the decoder's cross-attention layer 1."""
    base, decoder_only = counting_model
    _, paper = counting_paper_model
    assert paper.residual_labels == decoder_only.residual_labels
    assert paper.interp_config.architecture == "encoder-decoder" and paper.interp_config.n_layers == 1
    task = base.replace(L=64, R=4)
    batch = task.sample(64, 3)
    assert torch.equal(task.readout_logits(paper(batch.inputs), batch).argmax(-1),
                       task.readout_logits(decoder_only(batch.inputs), batch).argmax(-1))
    assert not paper.decoder[0].attn.W_Q.any() and not paper.decoder[0].attn.W_O.any()  # self-attention unused


def test_counting_paper_construction_saves_loads_and_builds_from_its_preset(tmp_path, counting_paper_model):
    base, model = counting_paper_model
    task = base.replace(L=48, R=4)
    save(tmp_path / "paper", model, task, construction=model.construction)
    loaded = load_checkpoint(tmp_path / "paper").model
    batch = task.sample(32, 0)
    assert torch.equal(loaded(batch.inputs), model(batch.inputs))
    assert construct(task, preset="paper").construction["name"] == "counting_paper"
    with pytest.raises(TaskError, match="preset 'nope'"):
        construct(task, preset="nope")


@pytest.mark.parametrize("layout", ["decoder-only", "encoder-decoder"])
def test_close_bias_twin_is_right_only_at_its_trained_number_of_regions(request, layout):
    """Both layouts: the twin is exact at its trained R only, at any length, and its counting head's mass sits on
    region r's 1s plus the "]" tokens."""
    if layout == "decoder-only":
        base, bos_model = request.getfixturevalue("counting_model")
        twin = counting_close_bias(base, trained_regions=4)

        def counting_mass(model, batch, relevant=None):
            return readout_mass(model, batch, 1, relevant)
    else:
        base, bos_model = request.getfixturevalue("counting_paper_model")
        twin = counting_paper_close_bias(base, trained_regions=4)
        counting_mass = cross_attention_mass
    accuracy = {}
    for R in (2, 3, 4, 5, 6):
        task = base.replace(L=48, R=R)
        batch = task.sample(256, R)
        accuracy[R] = task.evaluate(twin(batch.inputs), batch)["accuracy"]
        assert task.evaluate(bos_model(batch.inputs), batch)["accuracy"] == 1.0
    assert accuracy[4] == 1.0
    assert max(accuracy[R] for R in (2, 3, 5, 6)) < 0.85  # docs/theory/counting.md: 0.15 / 0.39 / 0.75 / 0.63
    # Length generalises at the trained R.
    task = base.replace(L=200, R=4)
    batch = task.sample(16, 1)
    assert batch.targets.max() <= task.max_count
    assert task.evaluate(twin(batch.inputs), batch)["accuracy"] == 1.0
    # Its bias is "]", not BOS: the counting head's mass sits on region r's 1s plus the "]" tokens.
    twin_relevant = batch.relevant.clone()
    twin_relevant[:, :, BOS] = False
    twin_relevant |= (batch.inputs == CLOSE)[:, None, :]
    assert counting_mass(twin, batch, twin_relevant).min() >= 0.99
    assert counting_mass(twin, batch).min() < 0.5  # BOS's ground truth does not describe it


# --- checkpoint round trip, dispatch, errors ----------------------------------------------------


@pytest.mark.parametrize(
    "task_name, params, name",
    [
        ("parity", dict(n=30, k=4), None),
        ("selection", dict(T=16, d=4, q=2, positions="orthonormal", code_dim=32), None),
        ("counting", dict(L=40, R=3, max_count=20, max_len=64), "counting_close_bias"),
    ],
)
def test_constructions_round_trip_through_checkpoints(tmp_path, task_name, params, name):
    task = make_task(task_name, **params)
    model = construct(task, name=name)
    json.dumps(model.construction)  # JSON-ready
    save(tmp_path / "ckpt", model, task, construction=model.construction)
    ckpt = load_checkpoint(tmp_path / "ckpt")
    batch = task.sample(32, 5)
    assert torch.equal(ckpt.model(batch.inputs), model(batch.inputs))
    assert ckpt.model.residual_labels == model.residual_labels
    assert ResidualBasis.from_labels(ckpt.model.residual_labels).labels == model.residual_labels
    assert ckpt.config["construction"] == model.construction
    assert ckpt.model_config.freeze_attention is False


def test_construct_dispatches_and_rejects_unknown_requests():
    assert set(CONSTRUCTIONS) == {"parity", "selection", "counting", "cumsum", "cummin", "tracr"}
    counting_task = make_task("counting", L=20, R=2, max_count=10, max_len=32)
    assert construct(counting_task).construction["name"] == "counting"
    twin = construct(counting_task, name="counting_close_bias", trained_regions=2)
    assert twin.construction["params"]["trained_regions"] == 2
    parity_task = make_task("parity", n=8, k=2)
    assert construct(parity_task, scale=6.0).construction["params"]["scale"] == 6.0
    with pytest.raises(TaskError, match="temperature"):
        construct(parity_task, temperature=1.0)
    with pytest.raises(TaskError, match="counting_close_bias"):
        construct(parity_task, name="counting_close_bias")
    with pytest.raises(TaskError, match="unknown construction name"):
        construct(parity_task, name="nope")


ORTHONORMAL_8 = dict(T=8, positions="orthonormal", code_dim=16)


@pytest.mark.parametrize(
    "request_, message",
    [
        (lambda: parity(make_task("parity", n=3, k=5)), "^k must"),
        (lambda: parity(make_task("parity", n=8, subset=[1, 9])), "^subset"),
        (lambda: parity(make_task("parity", n=8, k=2), scale=0), "^scale"),
        (lambda: parity(make_task("selection")), "^task must be a parity task"),
        (lambda: selection(make_task("selection", T=64, q=4), beta=2.0), "^beta=2 is too small"),
        (lambda: selection(make_task("selection"), error=0.0), "^error must"),
        (lambda: selection(make_task("selection", T=16), max_length=32), "^max_length"),
        (lambda: selection(make_task("selection", **ORTHONORMAL_8), max_length=17), "^max_length"),
        (lambda: counting_close_bias(make_task("counting", max_regions=4), trained_regions=5), "^trained_regions"),
        (lambda: counting(make_task("parity")), "^task must be a counting task"),
    ],
)
def test_invalid_requests_name_the_parameter(request_, message):
    with pytest.raises(TaskError, match=message):
        request_()
