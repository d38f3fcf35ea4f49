"""Task families: every family declares every part, the registries are built from them, a family forgets
a part or clashes with another in one line that names it, and a family from outside the package (the plugin
in ``tests/plugins/interp-majority``, installed for this session) reaches every command."""

import json
import os
import re
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from interp import family as registry
from interp.constructions import CONSTRUCTIONS, VARIANTS, construct
from interp.defaults import configure
from interp.discovery.truth import CONSTRUCTION_TRUTHS, label_edges
from interp.family import Construction, Family, FamilyError, families, family_of
from interp.limits import readouts
from interp.symmetry.score import DOMAINS
from interp.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "tests" / "plugins" / "interp-majority"
FAMILIES = list(families())


@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_declares_every_part_and_the_registries_hold_them(name):
    family = families()[name]
    assert family.summary.strip() and family.presets["default"] is not None
    for task_name in family.task_names:
        assert TASKS[task_name].name == task_name and family_of(task_name) is family
        for preset in family.presets:  # every preset configures, and says how many answers an example has
            task, model_cfg, train_cfg = configure(task_name, preset)
            # The family's stop target, unless the preset sets its own (parity's minimal: 100 %, the authors' stop).
            target = family.presets[preset].get("train", {}).get("target", family.target)
            assert model_cfg.d_vocab == task.d_vocab and train_cfg.target == target
            assert readouts(task) >= 1
        assert (task_name in DOMAINS) == (family.symmetry is not None)
    for construction, made in family.constructions.items():
        assert VARIANTS[construction] == (made.task, made.build)
        assert (construction in CONSTRUCTION_TRUTHS) == (made.truth is not None)
    defaults = [c for c, made in family.constructions.items() if c == made.task]
    assert set(defaults) <= set(CONSTRUCTIONS)


def test_a_family_that_forgets_a_part_fails_with_its_name():
    with pytest.raises(FamilyError, match=r"family 'toy' does not declare .*symmetry.*readouts"):
        Family(name="toy", summary="", tasks=(TASKS["parity"],), model=dict, train={}, target=None,
               presets={"default": {}}, constructions={}, analyze=print, circuit=None)
    parts = dict(name="toy", summary="", tasks=(TASKS["parity"],), model=dict, train={}, target=None,
                 presets={"default": {}}, constructions={}, analyze=print, circuit=None, symmetry=None,
                 readouts=lambda task: 1)
    Family(**parts)  # complete: no error
    with pytest.raises(FamilyError, match="family 'toy': construction 'x' is for 'counting', not one of its tasks"):
        Family(**{**parts, "constructions": {"x": Construction("counting", print, None)}})
    with pytest.raises(FamilyError, match="family 'toy': presets need a 'default'"):
        Family(**{**parts, "presets": {"fast": {}}})


def test_a_clash_or_a_broken_plugin_is_one_line_naming_it(monkeypatch, tmp_path):
    (tmp_path / "clashing.py").write_text(
        "from interp.families.parity import FAMILY\nimport dataclasses\n"
        "TWIN = dataclasses.replace(FAMILY, name='twin')\nNOT_A_FAMILY = 3\n")
    (tmp_path / "broken.py").write_text("raise ImportError('needs a package that is not installed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cases = {"clashing:TWIN": "'parity' is declared by family 'parity' and by 'twin'",
             "clashing:NOT_A_FAMILY": "family plugin 'odd': clashing:NOT_A_FAMILY is 3, not an interp.family.Family",
             "broken:FAMILY": "family plugin 'odd': broken:FAMILY could not be loaded: ImportError: needs a package "
                              "that is not installed"}
    for reference, message in cases.items():  # each as the one installed plugin
        plugin = EntryPoint("odd", reference, registry.ENTRY_POINTS)
        monkeypatch.setattr(registry, "entry_points", lambda group, plugin=plugin: [plugin])
        families.cache_clear()
        with pytest.raises(FamilyError, match=re.escape(message)):
            families()
    # The toolkit's own family failing to load is a bug, and keeps its traceback.
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    monkeypatch.setattr(registry, "BUILTIN", (*registry.BUILTIN, "broken:FAMILY"))
    families.cache_clear()
    with pytest.raises(ImportError, match="needs a package"):
        families()
    monkeypatch.undo()
    families.cache_clear()
    assert list(families()) == FAMILIES


# --- a family from outside the package ----------------------------------------------------------------


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    """The plugin installed the way pip installs any package (its module and its dist-info with the entry
    point), into a folder of its own that the commands below get on their PYTHONPATH."""
    site = tmp_path_factory.mktemp("plugin-site")
    build = tmp_path_factory.mktemp("plugin-build") / "src"
    subprocess.run(["cp", "-r", str(PLUGIN), str(build)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(build)], check=True)
    assert (site / "interp_majority.py").is_file()
    return site


# Every command on the plugin's task, in one process (the imports are paid once); it prints what it found.
VERBS = r"""
import json, sys
from pathlib import Path
from interp.cli import main

work = Path(sys.argv[1])
commands = {
    "tasks": ["tasks"],
    "train": ["train", "majority", "--out", work / "run", "--quiet", "--eval-samples", "512",
              "--set", "max_steps=150"],
    "eval": ["eval", work / "run", "--samples", "512", "--json"],
    "construct": ["construct", "majority", "--set", "n=9", "--out", work / "built"],
    "eval_construction": ["eval", work / "built", "--samples", "512", "--json"],
    "analyze": ["analyze", work / "built", "--out", work / "report", "--json"],
    "discover": ["discover", work / "built", "--method", "acdc", "--out", work / "circuit", "--samples", "64",
                 "--json"],
    "discover_trained": ["discover", work / "run", "--method", "acdc", "--out", work / "circuit-trained",
                         "--samples", "64", "--json"],
    "experiment_list": ["experiment", "list", "--names"],
    "experiment": ["experiment", "run", "majority-construction", "--quick", "--jobs", "1", "--out", work / "sweep",
                   "--quiet"],
}
for name, argv in commands.items():
    print(f"=== {name}", flush=True)
    code = main([str(a) for a in argv])
    print(f"=== {name} exit {code}", flush=True)
"""


def test_a_plugin_family_reaches_every_command(plugin_path, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    done = subprocess.run([sys.executable, "-c", VERBS, str(tmp_path)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    sections = dict(re.findall(r"=== (\w+)\n(.*?)=== \1 exit 0\n", done.stdout, re.S))
    assert set(sections) == {"tasks", "train", "eval", "construct", "eval_construction", "analyze", "discover",
                             "discover_trained", "experiment_list", "experiment"}, done.stdout[-3000:]
    assert "majority: Majority of n random bits" in sections["tasks"]
    assert json.loads(sections["eval"])["metrics"]["accuracy"] > 0.9  # 150 steps solve it (1.0 in 100 here)
    # The construction is exact (a logit margin of 10 on every input) and the analysis finds its circuit.
    assert json.loads(sections["eval_construction"])["metrics"]["accuracy"] == 1.0
    summary = json.loads(sections["analyze"])
    evenness, accuracy = summary["claims"]
    assert evenness["name"] == "uniform_attention_at_CLS" and evenness["verdict"] == "found"
    # As the README says: the random-init control is even too; only the accuracy tells them apart.
    assert evenness["control"]["verdict"] == "found" and accuracy["control"]["verdict"] == "not_found"
    assert summary["mechanism"].endswith("the predicted circuit")
    assert summary["symmetry"]["closed_form"]["s_sym"] == 1.0
    assert (tmp_path / "report" / "report.html").is_file()
    # The plugin's listed truth is scored like the toolkit's own: ACDC finds exactly the two varying edges.
    found = json.loads(sections["discover"])
    assert found["truth"]["resample"] == ["embed->A0.0.v", "A0.0->logits"]
    assert found["evaluation"]["exact"] and found["evaluation"]["edge_auc"] == 1.0
    trained = json.loads(sections["discover_trained"])
    assert trained["truth_heads"] == ["A0.0"] and (tmp_path / "circuit-trained" / "circuit.png").is_file()
    # The family's own experiment joins the toolkit's: listed, run, summarised with its rows and its plot.
    assert sections["experiment_list"].split()[-1] == "majority-construction"
    sweep = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert [row["verdict"] for row in sweep["rows"]] == ["reproduced", "reproduced"]
    assert (tmp_path / "sweep" / "margin.png").is_file() and (tmp_path / "sweep" / "report.html").is_file()


def test_the_plugin_truth_is_what_its_weights_build(plugin_path, monkeypatch):
    """The plugin's listed edges are the ones its weights connect (as the toolkit's constructions' are)."""
    monkeypatch.syspath_prepend(str(plugin_path))
    families.cache_clear()  # the entry point is found on the new path
    try:
        import interp_majority

        assert families()["majority"] is interp_majority.FAMILY
        model = interp_majority.majority(interp_majority.MajorityTask(n=5))
        assert set(label_edges(model)) == {u.edge for u in interp_majority.circuit_uses(model)}
    finally:
        monkeypatch.undo()
        families.cache_clear()


def test_nothing_in_the_package_names_the_plugin():
    """Adding the plugin touched no file under interp/."""
    mention = re.compile(r"interp_majority|MajorityTask|[\"']majority[\"']")
    named = [p for p in (ROOT / "interp").rglob("*.py") if mention.search(p.read_text())]
    assert named == []
    assert "majority" not in TASKS and "majority" not in families()


def test_constructions_dispatch_through_the_families():
    task = TASKS["counting"](L=12, R=2, max_len=24)
    assert construct(task).construction["name"] == "counting"
    assert construct(task, name="counting_close_bias").construction["params"]["bias_token"] == "]"


def test_the_bottom_layer_and_the_registry_load_no_torch():
    """What the README's Layout says of the lowest layer (and what lets the parser stay light)."""
    modules = ["interp.validation", "interp.grading", "interp.plot", "interp.naming", "interp.files", "interp.paths",
               "interp.allocator", "interp.lazy", "interp.family", "interp.cli"]
    probe = f"import sys; import {', '.join(modules)}; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
