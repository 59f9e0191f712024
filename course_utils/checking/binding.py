"""Binding a lesson's exercises to the names its notebook uses.

Each exercise declares its own id (``id = "lesson5.q4"``); ``bind_exercises`` instantiates it and
binds it in the lesson module as ``q4``, the name before which the notebook's test cell
``grade_id: lesson5_q4`` calls ``q4.grade()``. Nothing depends on the order of the list.
"""
from __future__ import annotations

from course_utils.checking.multipart import MultipartProblem
from course_utils.checking.problem import Problem

LESSONS_PACKAGE = "course_utils.lessons."


def bind_exercises(namespace: dict, problems: list) -> list[str]:
    """Bind each exercise of ``problems`` (classes or instances) in ``namespace`` under the last
    part of its ``id``; returns the names bound (the module's ``qvars``).

    Refuses an exercise without an id, two with the same id, and, in a lesson module, an id of
    another lesson (a copied declaration whose id was not changed).
    """
    module = namespace.get("__name__", "")
    lesson = module[len(LESSONS_PACKAGE):] if module.startswith(LESSONS_PACKAGE) else None
    names = []
    for problem in problems:
        instance = problem() if isinstance(problem, type) else problem
        if not isinstance(instance, Problem) or not instance.id or "." not in instance.id:
            raise ValueError(f"{problem!r} needs an id such as 'lesson1.q1'")
        owner, name = instance.id.split(".", 1)
        if lesson is not None and owner != lesson:
            raise ValueError(f"exercise {instance.id!r} is declared in {module}")
        if name in names:
            raise ValueError(f"two exercises have the id {instance.id!r}")
        if isinstance(instance, MultipartProblem):
            instance.bind_id(instance.id)  # the parts' ids: lesson4.q2.a, ...
        namespace[name] = instance
        names.append(name)
    return names
