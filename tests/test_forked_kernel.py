"""Kernels forked from the warm template are as contained as fresh ones, and share nothing.

Each test runs real notebooks through ``grader.sandbox.contained.run_notebook`` with ``kernel="fork"``: the
template (grader/sandbox/template_server.py) starts once in bubblewrap, and every notebook is a fork of it
with namespaces, a scratch ``/tmp``, limits and a privilege set of its own. The attack suite
(tests/test_grader_attacks.py) runs its whole batch against both kinds of kernel.
"""
from __future__ import annotations

import json
import os
import signal
import tempfile

import nbformat
import pytest

from grader.sandbox import bwrap, forked_kernel, kernel_launch, contained as sandbox
from grader.options import GradingOptions

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bwrap.executable() is None, reason="bubblewrap is not installed")]
os.environ.setdefault("COURSE_GRADER_STATE", os.path.join(tempfile.gettempdir(), "course-grader-test-state"))

OPTIONS = GradingOptions(cell_timeout=60, notebook_timeout=120, kernel="fork")


def run(*sources: str, options: GradingOptions | None = None, hidden=()) -> tuple[str, list[str]]:
    """Run code cells in a forked kernel; ``(status, each cell's printed text)``."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    status = sandbox.run_notebook(nb, options or OPTIONS, hidden=list(hidden)).status
    texts = ["".join(o.get("text", "") or o.get("evalue", "") for o in cell.get("outputs", [])) for cell in nb.cells]
    return status, texts


def test_a_fork_has_no_privilege_and_sees_only_itself():
    status, (caps, procs, net, tmp) = run(
        "print({l.split(':')[0]: l.split()[1] for l in open('/proc/self/status') "
        "if l.startswith(('Cap', 'NoNewPrivs'))})",
        "import os; print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))",
        "import socket\ns = socket.socket(); s.settimeout(2)\ntry:\n    s.connect(('1.1.1.1', 80)); print('open')\n"
        "except OSError as e:\n    print('blocked')",
        "import glob, os; print(([(f, os.listdir(f)) for f in sorted(glob.glob('/tmp/*'))], "
        "glob.glob('/tmp/grader-template-*/*')))")
    assert status == "ok"
    values = eval(caps)  # noqa: S307 - our own cell's printed dict
    assert all(int(v, 16) == 0 for k, v in values.items() if k.startswith("Cap")), values
    assert values["NoNewPrivs"] == "1"
    assert eval(procs) == [1, 2]  # noqa: S307 - its reaper (PID 1) and itself: no template, no neighbour
    assert net.strip() == "blocked"
    folders, jobs = eval(tmp)  # noqa: S307
    others = {f: content for f, content in folders if not f.startswith("/tmp/grader-template-")}
    assert others.pop("/tmp/work") == [".ipython"]  # its home: IPython's profile, nothing else
    needed = bwrap.needed_paths("course")  # bound back read-only, as bwrap does (a checkout under /tmp)
    for folder, content in others.items():  # the hidden folders: empty but for what the kernel reads
        assert all(any(n == f"{folder}/{name}" or n.startswith(f"{folder}/{name}/") for n in needed)
                   for name in content), (folder, content)
    assert len(jobs) == 1  # its own IPC folder; the template's socket is not there


def test_nothing_written_by_one_fork_reaches_the_next():
    marker = "written-by-the-first-fork"
    first, _ = run(f"open('/tmp/work/{marker}', 'w').write('x'); open('/dev/shm/{marker}', 'w').write('x')\n"
                   "import torch; print(torch.rand(1).item())")
    assert first == "ok"
    status, (seen, draws) = run(f"import os; print(os.path.exists('/tmp/work/{marker}'), "
                                f"os.path.exists('/dev/shm/{marker}'))",
                                "import torch, numpy; print(torch.rand(1).item(), numpy.random.rand())")
    assert status == "ok" and seen.strip() == "False False"
    _, (draws_again,) = run("import torch, numpy; print(torch.rand(1).item(), numpy.random.rand())")
    assert draws != draws_again  # each fork seeds itself from the OS, as a fresh interpreter does


def test_hidden_folders_under_tmp_stay_empty_and_read_only(tmp_path):
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "grades.csv").write_text("secret")
    status, (listing, write) = run(
        f"import os; print(os.listdir({str(out)!r}))",
        f"try:\n    os.makedirs({str(out / 'results' / 'x')!r}); print('written')\nexcept OSError:\n    print('refused')",
        hidden=[str(out)])
    assert status == "ok" and listing.strip() == "[]" and write.strip() == "refused"


def test_a_fork_that_exits_or_is_killed_ends_as_a_crash_and_the_next_one_runs():
    status, _ = run("import os; os._exit(3)")
    assert status == "crash"
    status, _ = run("import ctypes; ctypes.string_at(0)")  # a segmentation fault
    assert status == "crash"
    assert run("print(1 + 1)") == ("ok", ["2\n"])


def test_a_dead_template_is_started_again():
    assert run("print('warm')")[0] == "ok"
    (template,) = forked_kernel.running_templates()
    os.killpg(template.process.pid, signal.SIGKILL)
    template.process.wait()
    assert run("print('again')") == ("ok", ["again\n"])


def test_a_template_that_cannot_start_falls_back_to_fresh_kernels_and_says_why(tmp_path, monkeypatch, capsys):
    forked_kernel.close_templates()
    monkeypatch.setattr(forked_kernel, "server_program", lambda: "import sys\nsys.exit('the template cannot start: test')\n")
    monkeypatch.setattr(kernel_launch, "TEMPLATE_FAILED", [])
    options = OPTIONS.but(notebook_timeout=119)  # another template than the other tests'
    assert run("print('fresh')", options=options) == ("ok", ["fresh\n"])
    assert "cannot start: test" in capsys.readouterr().err
    assert kernel_launch.TEMPLATE_FAILED and json.dumps(kernel_launch.TEMPLATE_FAILED)


def test_a_forked_and_a_fresh_kernel_report_the_same_limits():
    """Both set their limits with the same code from the same numbers (``GradingOptions.kernel_limits``),
    RLIMIT_NPROC included where the sandbox runs as a host uid of its own (the grader runs as root)."""
    flags = sandbox.sandbox_flags(OPTIONS)
    cell = ("import resource\nprint({name: resource.getrlimit(getattr(resource, name)) for name in "
            "('RLIMIT_AS', 'RLIMIT_FSIZE', 'RLIMIT_CORE', 'RLIMIT_NPROC')})")
    forked = run(cell, options=OPTIONS)
    fresh = run(cell, options=OPTIONS.but(kernel="fresh"))
    assert forked[0] == fresh[0] == "ok", (forked, fresh)
    seen = eval(forked[1][0])  # noqa: S307 - our own cell's printed dict
    assert seen == eval(fresh[1][0])  # noqa: S307
    address_space, file_size, nproc = OPTIONS.kernel_limits(own_host_uid="drop-uid" in flags)
    assert seen["RLIMIT_AS"] == (address_space, address_space) and seen["RLIMIT_FSIZE"] == (file_size, file_size)
    assert seen["RLIMIT_CORE"] == (0, 0)
    if nproc:
        assert seen["RLIMIT_NPROC"] == (nproc, nproc) == (OPTIONS.max_processes + 64,) * 2


SHARED_CELLS = (
    "import glob, os, time\nfrom ipykernel.connect import get_connection_file\n"
    "open('/tmp/work/mine', 'w').write(get_connection_file())\nbegan = time.time()\ntime.sleep(4)",
    "print(repr((os.path.dirname(os.path.dirname(get_connection_file())), began, time.time(),\n"
    "      sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), open('/tmp/work/mine').read(),\n"
    "      glob.glob('/tmp/grader-template-*/*'))))",
)


def test_one_template_serves_two_workers_at_once_and_neither_sees_the_other():
    """The machine's template (``contained.machine_template``, as the local pool's coordinator starts
    it) forks two kernels that run at the same time: both from that one template, each seeing
    only its own processes, its own /tmp and its own IPC folder."""
    import threading

    forked_kernel.close_templates()  # this process's own, from the tests above
    template = sandbox.machine_template(OPTIONS)
    assert template is not None
    try:
        forked_kernel.share(template.attachment())
        seen = {}
        threads = [threading.Thread(target=lambda k=k: seen.__setitem__(k, run(*SHARED_CELLS))) for k in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        views = []
        for status, (_, view) in seen.values():
            assert status == "ok"
            root, began, ended, pids, mine, jobs = eval(view)  # noqa: S307 - our own printed tuple
            assert root == template.root and pids == [1, 2]  # its reaper and itself: not the other kernel
            assert jobs == [os.path.dirname(mine)]  # its own IPC folder only
            views.append((began, ended, mine))
        (began_a, ended_a, mine_a), (began_b, ended_b, mine_b) = views
        assert began_a < ended_b and began_b < ended_a, views  # at the same time
        assert mine_a != mine_b
        assert [t.owner for t in forked_kernel.running_templates()] == [False]  # no worker started its own
    finally:
        forked_kernel.close_templates()
        template.close()
    assert not os.path.exists(template.root)


def test_a_worker_whose_shared_template_died_starts_its_own():
    forked_kernel.close_templates()
    template = sandbox.machine_template(OPTIONS)
    forked_kernel.share(template.attachment())
    try:
        assert run("print('shared')") == ("ok", ["shared\n"])
        template.close()
        assert run("print('own')") == ("ok", ["own\n"])
        assert [t.owner for t in forked_kernel.running_templates()] == [True]
    finally:
        forked_kernel.close_templates()
        template.close()


def _outside_tmp() -> str | None:
    """A fresh folder the sandbox shows that is not under /tmp (the grader runs as root in CI)."""
    for parent in ("/opt", "/usr/local"):
        if os.access(parent, os.W_OK) and not parent.startswith("/tmp") and not any(
                parent == h or parent.startswith(h + "/") for h in bwrap.hidden_paths()):
            return tempfile.mkdtemp(prefix="grader-test-batch-", dir=parent)
    return None


def test_one_template_serves_every_batch_and_each_fork_hides_its_own_folders(tmp_path):
    """The template holds no batch's paths (a process keeps it for all its batches): each fork
    hides its own batch's folders, under /tmp and elsewhere, empty and read-only, as bubblewrap
    does for a fresh kernel; another batch's forks, from the same template, see theirs."""
    os.makedirs(os.environ["COURSE_GRADER_STATE"], exist_ok=True)  # hidden by every template (below)
    outside = _outside_tmp()
    if outside is None:
        pytest.skip("no writable folder outside /tmp that the sandbox shows (not root?)")
    try:
        folders = {"in_tmp": tmp_path / "out", "outside": os.path.join(outside, "out")}
        for folder in folders.values():
            os.makedirs(os.path.join(folder, "results"))
            with open(os.path.join(folder, "grades.csv"), "w") as f:
                f.write("secret")
        look = ("import os\nfor f in {folders!r}:\n    print(f, sorted(os.listdir(f)) if os.path.isdir(f) else None)\n"
                "    try:\n        os.makedirs(os.path.join(f, 'results', 'x')); print('written')\n"
                "    except OSError:\n        print('refused')")
        paths = [str(f) for f in folders.values()]
        pids = set()
        for hidden in (paths, [paths[0]], []):
            status, (seen,) = run(look.format(folders=paths), hidden=hidden)
            pids |= {t.pid for t in forked_kernel.running_templates()}
            assert status == "ok", seen
            lines = seen.split("\n")
            for n, path in enumerate(paths):
                listing, write = lines[2 * n].split(" ", 1)[1], lines[2 * n + 1]
                if path in hidden:
                    assert (listing, write) == ("[]", "refused"), seen
                elif path.startswith("/tmp/"):  # under the kernel's own scratch /tmp: not there at all
                    assert (listing, write) == ("None", "written"), seen
                else:
                    assert (listing, write) == ("['grades.csv', 'results']", "refused"), seen  # read-only
        # A batch's folder inside a folder every kernel has hidden (here the grader's state, under
        # /tmp, hidden by the template's sandbox): nothing to hide, and the kernel still runs.
        inside = os.path.join(os.environ["COURSE_GRADER_STATE"], "out")
        assert run(f"import os; print(os.path.exists({inside!r}))", hidden=[inside]) == ("ok", ["False\n"])
        assert len(pids) == 1  # one template served the three batches
    finally:
        import shutil

        shutil.rmtree(outside, ignore_errors=True)
