"""Points taken on run-time evidence: what ran around each exercise's ``collect``.

The test cell the grader places (``course_utils.checking.graded_cell``) records, with the answer,
what it saw while the answer was collected (``evidence``): a trace or profile hook set at entry
or exit, or set while it ran (the kernel's audit hook counts ``sys.settrace`` / ``sys.setprofile``
calls: ``grader/sandbox/kernel_limits.py``), and answering functions whose code is not their
module's. An exercise collected under either earns nothing, with the reason: such a hook sees and
can rewrite every frame of the checker, and a reference with foreign code escapes the watch on it.
A record without evidence (a kernel whose audit hook did not answer) is noted for review.
"""
from __future__ import annotations

MAX_REASONS, MAX_REASON_CHARS = 4, 200   # the kernel wrote them: bounded before they are shown


def mark_hooked(entries: list[dict]) -> list[str]:
    """Give 0, with the reason, to each graded test (``entries``: the grader's per-test dicts, each
    with the ``evidence`` its record carried, taken out here) collected under a hook; returns the
    row's notes: one per such exercise, and one for review when the kernel's audit did not answer."""
    notes, unaudited = [], []
    for entry in entries:
        if "evidence" not in entry:
            continue   # no record was read: nothing was collected to be judged
        evidence = entry.pop("evidence")
        evidence = evidence if isinstance(evidence, dict) else {}   # a record the grader's cell did not make
        reasons = hooks_of(evidence)
        if reasons:
            reason = "; ".join(reasons)
            entry.update(score=0.0, status="Incorrect",
                         message=f"this answer was collected while the checker was being watched or changed "
                                 f"({reason}): it earns nothing")
            notes.append(f"{entry['grade_id']} earns nothing: {reason}")
        elif evidence.get("audit") is not True:
            unaudited.append(entry["grade_id"])
    if unaudited:
        notes.append(f"for review: the kernel's audit hook did not answer in {', '.join(unaudited)} "
                     f"(was it removed, or `sys.audit` replaced?)")
    return notes


def hooks_of(evidence: dict) -> list[str]:
    """The reasons in a record's ``hooks`` (plain strings, bounded), or [] when there are none."""
    hooks = evidence.get("hooks")
    if not isinstance(hooks, list):
        return ["the record's evidence is not the grader's (no list of hooks)"]
    return [str(reason)[:MAX_REASON_CHARS] for reason in hooks[:MAX_REASONS]]
