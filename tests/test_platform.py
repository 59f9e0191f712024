"""Today's student platforms: the light student install, a tokenizer that cannot silently break,
and a setup that cannot crash the kernel (TensorFlow after triton) or flood it with logs.

These run on both CI environments: the locked stack and `.ci/student-platform` (transformers 5,
torch 2.15 with triton, TensorFlow 2.21 with Keras 3). Tests that need triton say so when skipped.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = [os.path.join(ROOT, "notebooks", f"lesson{n}.ipynb") for n in range(1, 8)]
SOURCES = [os.path.join(ROOT, "grader", "course", "source", f"lesson{n}", f"lesson{n}.ipynb") for n in range(1, 8)]


def _python(code: str, **env) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (imports and aborts must not touch this process)."""
    full_env = {**os.environ, "COURSE_MODEL": "course", "HF_HUB_OFFLINE": "1", **env}
    for name, value in env.items():
        if value is None:
            full_env.pop(name)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=full_env, cwd=ROOT)


def _triton_installed() -> bool:
    """A triton whose LLVM clashes with TensorFlow's (3.x; the 2.x of torch 2.2 does not clash)."""
    from course_utils.frameworks import clashing_triton

    return clashing_triton()


# -- the tokenizer ------------------------------------------------------------------------------------
def test_tokenizer_gives_gpt2_ids_on_this_stack(tokenizer):
    from course_utils.tokenizer import KNOWN_IDS

    for text, ids in KNOWN_IDS.items():
        assert tokenizer.encode(text) == ids
    assert tokenizer("My favourite movie is")["input_ids"] == [3666, 12507, 3807, 318]
    assert set(tokenizer("a b")) == {"input_ids", "attention_mask"}  # what model(**inputs) accepts


def test_a_tokenizer_with_wrong_ids_fails_loudly_naming_versions():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from course_utils.tokenizer import TokenizerMismatch, bpe_files, verify

    # The same vocabulary with only the first 5,000 merges: plausible ids, all wrong (words split
    # into more pieces), which is how a library that misreads the merges file would break the course.
    vocab, merges = models.BPE.read_file(*bpe_files())
    bpe = Tokenizer(models.BPE(vocab, merges[:5000]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    wrong = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    with pytest.raises(TokenizerMismatch, match=r"transformers \d+\.\d+.*tokenizers \d+\.\d+"):
        verify(wrong)


def test_an_empty_tokenizer_fails_loudly():
    """What transformers 5 made of the old ``GPT2TokenizerFast(vocab_file=...)``: ids ``[]``."""
    from course_utils.tokenizer import TokenizerMismatch, verify

    class Empty:
        def encode(self, text):
            return []

        def decode(self, ids):
            return ""

        def __len__(self):
            return 0

    with pytest.raises(TokenizerMismatch, match="encodes to \\[\\]"):
        verify(Empty())


# -- import order and noise -----------------------------------------------------------------------------
@pytest.mark.skipif(not _triton_installed(), reason="no triton here (a CPU torch build): nothing can abort")
def test_tensorflow_before_triton_aborts_without_the_course():
    """The platform bug itself, reproduced: if this stops aborting, the guard may be dropped."""
    result = _python("import tensorflow\nimport triton\nprint('survived')")
    assert result.returncode != 0 and "survived" not in result.stdout
    assert "LLVM ERROR" in result.stderr


@pytest.mark.skipif(not _triton_installed(), reason="no triton here (a CPU torch build): nothing can abort")
def test_importing_course_utils_first_makes_any_order_safe():
    result = _python("import course_utils\nimport tensorflow as tf\nimport triton\n"
                     "from transformers import GPT2LMHeadModel\nprint('survived', tf.__version__)")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "survived" in result.stdout


@pytest.mark.skipif(not _triton_installed(), reason="no triton here: TensorFlow cannot come too early")
def test_tensorflow_imported_too_early_gets_a_warning_not_an_abort():
    result = _python("import warnings, tensorflow\nwith warnings.catch_warnings(record=True) as caught:\n"
                     "    warnings.simplefilter('always')\n    import course_utils\n"
                     "print([str(w.message) for w in caught])")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Restart the kernel" in result.stdout


def test_setup_imports_are_quiet_and_both_models_load():
    """The setup cell's imports and both models: nothing on stderr (no TF/absl start-up lines, no
    transformers deprecation notices), and exactly one line per model saying which one is in use."""
    code = ("import course_utils\nimport tensorflow as tf\nimport torch\n"
            "from course_utils import load_model, load_tokenizer\n"
            "tokenizer = load_tokenizer(); model = load_model('pt'); tf_model = load_model('tf')\n"
            "from transformers import pipeline\n"
            "pipe = pipeline('text-generation', model=model, tokenizer=tokenizer)\n"
            "print(len(pipe('Hello', max_new_tokens=3, do_sample=False)))")
    result = _python(code, TF_CPP_MIN_LOG_LEVEL=None, TRANSFORMERS_VERBOSITY=None)
    assert result.returncode == 0, result.stderr[-3000:]
    noise = [line for line in result.stderr.splitlines()
             if line.strip() and "CUDA initialization" not in line and "cudaGetDeviceCount" not in line]
    # A CUDA build of torch on a machine without a GPU warns about CUDA once: the platform's own
    # message, which a student on such a machine sees in every notebook anyway.
    assert not [line for line in noise if not line.startswith("  return torch._C")], noise
    assert result.stdout.count("Using model course-gpt2") == 2


# -- the two installs -------------------------------------------------------------------------------------
def _project() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _requirement_names(requirements) -> set:
    return {re.split(r"[<>=!~;\[ ]", r, 1)[0].lower().replace("_", "-") for r in requirements}


def _locked() -> dict:
    pins = {}
    for line in open(os.path.join(ROOT, "constraints", "locked.txt")):
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_student_package_pins_nothing_and_pulls_no_grading_or_test_stack():
    project = _project()
    dependencies = project["dependencies"]
    assert not [d for d in dependencies if "==" in d], "the student package must use ranges"
    assert not _requirement_names(dependencies) & {
        "nbgrader", "jupyter", "jupyterlab", "nbclient", "nbval", "pytest", "sqlalchemy", "tensorflow",
        "tf-keras"}
    extras = project["optional-dependencies"]
    assert "tensorflow" in _requirement_names(extras["tf"])
    assert "nbgrader" in _requirement_names(extras["grader"])
    assert {"pytest", "nbval"} <= _requirement_names(extras["dev"])


@pytest.mark.parametrize("stack", ["locked", "student-platform", "oldest"])
def test_both_stacks_satisfy_the_student_ranges(stack):
    """The ranges admit the locked pins, today's platform versions and the oldest versions CI tests
    (constraints/oldest.txt): pip then changes nothing."""
    from packaging.requirements import Requirement

    if stack == "locked":
        versions = _locked()
    else:
        versions = {}
        for line in open(os.path.join(ROOT, "constraints", f"{stack}.txt")):
            match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
            if match:
                versions[match.group(1).lower()] = match.group(2)
        assert {"torch", "transformers", "tensorflow"} <= set(versions)
    project = _project()
    for text in project["dependencies"] + project["optional-dependencies"]["tf"]:
        requirement = Requirement(text)
        name = requirement.name.lower().replace("_", "-")
        if name in versions:
            assert requirement.specifier.contains(versions[name], prereleases=True), (
                f"{stack}: {name} {versions[name]} is outside {requirement}")


def test_locked_constraints_pin_every_dependency_of_the_full_install():
    locked = _locked()
    project = _project()
    wanted = project["dependencies"] + [d for extra in ("tf", "grader", "dev")
                                         for d in project["optional-dependencies"][extra]]
    missing = _requirement_names(wanted) - set(locked)
    assert not missing, f"constraints/locked.txt pins none of {sorted(missing)}"
    assert locked["transformers"].startswith("4.57") and locked["torch"] == "2.13.0"


def test_readme_commands_environment_yml_and_ci_use_the_lock():
    readme = open(os.path.join(ROOT, "README.md")).read()
    install = 'pip install -c constraints/locked.txt -e ".[tf,grader,dev]"'
    assert readme.count(install) >= 2  # the main job and the test command: still two commands
    env_text = open(os.path.join(ROOT, "environment.yml")).read()
    assert "-c constraints/locked.txt" in env_text and "-e .[tf,grader,dev]" in env_text
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    assert install in ci and "bash .ci/student-platform" in ci
    platform = open(os.path.join(ROOT, ".ci", "student-env")).read()  # .ci/student-platform runs it
    assert "comm -23" in platform and "COURSE_PIP_SOURCE=" in platform and "pip wheel" in platform
    assert "student-env" in open(os.path.join(ROOT, ".ci", "student-platform")).read()


# -- the notebooks' first cell ------------------------------------------------------------------------------
def _code_cells(path):
    with open(path) as f:
        return ["".join(c["source"]) for c in json.load(f)["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS + SOURCES, ids=lambda p: os.path.relpath(p, ROOT))
def test_first_cell_installs_the_course_and_imports_it_before_tensorflow(path):
    install, setup = _code_cells(path)[:2]
    assert "COURSE_PIP_SOURCE" in install and "pip install" in install and "<" not in install
    assert "only-if-needed" in install  # never upgrades the platform's torch/transformers/tensorflow
    lines = [line.strip() for line in setup.splitlines()]
    first_import = next(line for line in lines if line.startswith(("import ", "from ")))
    assert first_import.startswith("import course_utils"), first_import
    if "import tensorflow as tf" in lines:
        assert lines.index("import tensorflow as tf") > lines.index(first_import)
