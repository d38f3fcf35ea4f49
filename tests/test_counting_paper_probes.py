"""The encoder-decoder's counting probes (``interp.analysis.counting_paper``): every mechanism claim is found on
the hand-built construction and not on a randomly initialised paper model; the ``]``-bias twin is named by its
split; the counting family routes an encoder-decoder to them; ``interp analyze`` reports a paper checkpoint and
``interp discover`` refuses one in one line."""

from __future__ import annotations

import functools
import json

import pytest

from interp.analysis import MECHANISM_KINDS
from interp.analysis.counting_paper import BUCKETS, analyze_context
from interp.constructions.counting import counting_paper, counting_paper_close_bias
from interp.models import build_model
from interp.tasks import CountingTask

SAMPLES = 256
TASK = CountingTask(L=40, R=4, max_count=40, max_len=128)



@pytest.fixture(scope="module")
def construction():
    return counting_paper(TASK)


@pytest.fixture(scope="module")
def analysed(construction):
    """(context, analysis) of the BOS construction (compared with itself), of a random paper model, and of the
    ``]``-bias twin."""
    random = build_model(construction.interp_config, seed=0)
    return {"construction": analyze_context(construction, TASK, construction, SAMPLES),
            "random": analyze_context(random, TASK, None, SAMPLES),
            "close": analyze_context(counting_paper_close_bias(TASK, trained_regions=TASK.R), TASK, None, SAMPLES)}


def mechanism_claims(analysis):
    return {c.name: c for c in analysis.claims if c.kind in MECHANISM_KINDS}


def test_every_mechanism_claim_found_on_construction_and_not_on_random_model(analysed):
    _, built = analysed["construction"]
    _, random = analysed["random"]
    built_claims, random_claims = mechanism_claims(built), mechanism_claims(random)
    assert {c.kind for c in built_claims.values()} == {"attention", "representation", "causal"}
    assert {n: c.verdict for n, c in built_claims.items() if c.verdict != "found"} == {}
    assert {n: (c.verdict, c.value) for n, c in random_claims.items() if c.verdict != "not_found"} == {}
    assert built.assessment.status == "predicted" and random.assessment.status == "absent"
    assert "encoder L0H0" in built.mechanism and "cross-attention L0H0" in built.mechanism
    assert built.circuit == [(0, 0), (0, 0)] and built.circuit_names == ["encoder L0H0", "cross-attention L0H0"]
    # Behaviour and comparison: the construction solves the task in and out of distribution, and matches itself.
    assert all(c.verdict == "found" for c in built.claims if c.kind in ("behaviour", "comparison")), \
        [(c.name, c.verdict) for c in built.claims]
    assert random.claim("solves the task").verdict == "not_found"


def test_split_and_bias_token(analysed):
    for name, bias in (("construction", "BOS"), ("close", "]")):
        ctx, analysis = analysed[name]
        assert list(ctx.split) == list(BUCKETS)
        assert sum(ctx.split.values()) == pytest.approx(1, abs=1e-3)
        assert ctx.bias == bias
        claim = analysis.claim("BOS is the cross-attention's bias token")
        assert claim.extra["split"] == ctx.split and claim.extra["bias_token"] == bias
        assert sum(claim.extra["shares"].values()) == pytest.approx(1, abs=1e-3)
    ctx, twin = analysed["close"]
    claim = twin.claim("BOS is the cross-attention's bias token")
    assert claim.verdict == "not_found" and claim.extra["finding"] == "bias token ]"
    assert "bias token ]" in twin.mechanism
    # Removing its own bias (]) still breaks the twin's count; it fails at fewer regions, as its bias predicts,
    # and generalises in length, as the BOS construction does everywhere.
    assert twin.claim("the bias token keeps the count").verdict == "found"
    regions = twin.claim("generalises to other numbers of regions")
    assert regions.verdict == "not_found" and regions.extra["predicted"] is False
    assert twin.claim("generalises to longer sequences").verdict == "found"
    _, built = analysed["construction"]
    assert built.claim("generalises to other numbers of regions").extra["predicted"] is True


def test_family_routes_encoder_decoder_to_paper_probes():
    from interp.families.counting import FAMILY

    small = CountingTask(L=16, R=2, max_count=16, max_len=32)
    paper = counting_paper(small)
    analysis = FAMILY.analyze(paper, small, None, samples=64, seed=0)
    assert analysis.claim("the encoder head finds the region from the delimiters").verdict == "found"
    assert FAMILY.circuit(paper, small, 64, 0) == [(0, 0), (0, 0)]
    # The decoder-only path is unchanged.
    from interp.constructions.counting import counting

    decoder_only = FAMILY.analyze(counting(small), small, None, samples=64, seed=0)
    assert decoder_only.claim("layer 0 finds the region from the delimiters").verdict == "found"


def test_attention_views_of_encoder_decoder(construction):
    from interp.viz.attention import attention_views

    batch = TASK.sample(1, 3)
    encoder, cross = attention_views(construction, TASK, batch)
    n, size = 1 + TASK.L, batch.inputs.shape[1]
    assert encoder.pattern.shape == (1, n, n) and encoder.tokens == TASK.token_labels(batch)[:n]
    assert encoder.head_names == ["encoder L0H0"] and cross.head_names == ["cross-attention L0H0"]
    assert encoder.labels()[0] == "BOS@0*"
    assert cross.pattern.shape == (1, size, size) and cross.tokens[-1] == f"Q{TASK.R}@{size - 1}"
    assert cross.pattern[0, n:].sum(-1).tolist() == pytest.approx([1.0] * TASK.R)
    assert cross.pattern[0, n:, n:].abs().sum() == 0 and cross.pattern[0, :n].abs().sum() == 0


def test_interp_analyze_reports_paper_checkpoint_and_discover_refuses_it(tmp_path, monkeypatch, cli):
    from interp.cli import verbs
    from interp.viz.report import report_checkpoint

    ckpt = tmp_path / "paper"
    code, _, err = cli("construct", "counting", "--preset", "paper", "--set", "L=40", "--set", "max_len=128",
                       "--set", "max_count=40", "--out", ckpt)
    assert code == 0, err
    monkeypatch.setattr(verbs, "report_checkpoint", functools.partial(report_checkpoint, samples=SAMPLES))
    report = tmp_path / "report"
    code, out, err = cli("analyze", ckpt, "--out", report, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["mechanism_status"] == "predicted", summary["mechanism"]
    assert summary["circuit_heads"] == ["encoder L0H0", "cross-attention L0H0"]
    claims = {c["name"]: c for c in summary["claims"]}
    assert claims["agrees with the construction"]["verdict"] == "found"  # compared with the paper construction
    assert claims["the bias token keeps the count"]["control"]["verdict"] == "not_found"
    page = (report / "report.html").read_text()
    assert "cross-attention L0H0" in page and "encoder L0H0" in page and "Q4@44" in page
    assert (report / "cross_attention_buckets.png").exists() and (report / "summary.md").exists()

    code, out, err = cli("discover", ckpt, "--method", "node", "--samples", "16", "--out", tmp_path / "found")
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("interp discover: error:") and "EncoderDecoder" in err and "Traceback" not in err
    assert not (tmp_path / "found" / "circuit.json").exists()
