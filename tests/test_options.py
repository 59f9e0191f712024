"""Grading options are declared once: every one has a flag whose help is its declaration's, and
they travel typed (plain JSON only across a process boundary, and back unchanged)."""
from __future__ import annotations

import dataclasses

import pytest

from grader import cli, options
from grader.pipeline.job import Job
from grader.options import GradingOptions


def _parser():
    parser = cli.argparse.ArgumentParser()
    cli._grading_options(cli._groups(parser))
    return parser


def parsed(*flags: str) -> GradingOptions:
    return cli.grading_options(_parser().parse_args(list(flags)))


def test_every_option_has_a_flag_whose_help_is_its_declaration():
    parser = _parser()
    by_flag = {flag: action for action in parser._actions for flag in action.option_strings}
    for declared in options.declared():
        action = by_flag["--" + declared.name.replace("_", "-")]
        assert action.dest == declared.name
        assert action.help.startswith(declared.metadata["help"]), declared.name
        assert f"(default: {declared.default})" in action.help


def test_no_flag_gives_the_declared_defaults_and_flags_set_typed_values():
    assert parsed() == GradingOptions()
    chosen = parsed("--cell-timeout", "30", "--memory-mb", "900", "--kernel", "fresh", "--max-processes", "99")
    assert (chosen.cell_timeout, chosen.memory_mb, chosen.kernel, chosen.max_processes) == (30.0, 900, "fresh", 99)
    assert isinstance(chosen.memory_mb, int) and isinstance(chosen.cell_timeout, float)


def test_the_old_switches_still_work():
    assert parsed("--allow-network").network == "allow" and parsed("--network", "allow").network_allowed
    assert parsed("--unsafe-no-sandbox").sandbox == "none" and not parsed("--unsafe-no-sandbox").sandboxed
    assert parsed().network == "auto" and parsed().sandboxed


def test_unknown_options_and_values_are_refused():
    with pytest.raises(TypeError):
        GradingOptions.from_dict({"cell_timeot": 3})
    with pytest.raises(ValueError, match="kernel"):
        GradingOptions(kernel="zygote")
    with pytest.raises(SystemExit):
        parsed("--kernel", "zygote")


def test_a_job_crosses_a_process_boundary_as_json_and_comes_back_equal():
    import json

    job = Job(student="ada", notebook="lesson1", release="", options=GradingOptions(memory_mb=900),
              lesson_ids=("lesson1", "lesson2"), hide=("/x",), max_score=3.0)
    assert Job.from_dict(json.loads(json.dumps(job.to_dict()))) == job
    assert Job.from_dict({"student": "s", "notebook": "lesson1", "release": ""}).options == GradingOptions()


def test_kernel_limits_come_from_the_options():
    chosen = GradingOptions(address_space_mb=2, file_size_mb=1, max_processes=10)
    assert chosen.kernel_limits(own_host_uid=True) == [2 * 2**20, 2**20, 74]
    assert chosen.kernel_limits(own_host_uid=False)[2] == 0   # RLIMIT_NPROC counts the whole uid


def test_every_option_is_plain_json_with_a_concrete_default():
    for declared in dataclasses.fields(GradingOptions):
        assert declared.default is not None and declared.default is not dataclasses.MISSING, declared.name
    assert GradingOptions.from_dict(GradingOptions().to_dict()) == GradingOptions()


@pytest.mark.parametrize("command", ["autograde", "demo"])
def test_help_groups_every_flag_and_gives_each_its_help_and_examples(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    shown = capsys.readouterr().out
    headings = [f"{name}: {what}:" for name, what in cli.GROUPS.items()]
    assert all(heading in shown for heading in headings)
    assert [shown.index(h) for h in headings] == sorted(shown.index(h) for h in headings)
    assert "examples:" in shown and "python -m grader report OUT" in shown
    parser = cli._parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        assert action.help, action.option_strings or action.dest    # --no-progress had none
    groups = {g.title.split(":")[0]: {a.dest for a in g._group_actions} for g in sub._action_groups}
    assert {"workers", "scheduler", "local_cluster"} <= groups["cluster"] and "no_progress" in groups["output"]
    assert {"network", "sandbox", "kernel"} <= groups["sandbox"] and "memory_mb" in groups["limits"]


def test_the_top_line_names_every_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    first = cli.__doc__.splitlines()[0]
    assert all(name in first for name in ("release", "autograde", "report", "export", "student-package", "demo"))


def test_third_party_noise_is_silenced_here_and_in_the_processes_started_from_here(monkeypatch):
    """urllib3 warns, on import of its SOCKS module, that PySocks is missing (matplotlib's style
    files and Dask get there): a line that tells a teacher nothing."""
    import subprocess
    import sys

    pytest.importorskip("urllib3")
    probe = "try:\n import urllib3.contrib.socks\nexcept ImportError:\n pass"   # urllib3 shows its own warnings
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    loud = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stderr
    if "SOCKS" not in loud:
        pytest.skip("PySocks is installed here: urllib3 has nothing to warn about")
    cli._quiet()
    quiet = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stderr
    assert "SOCKS" not in quiet
