"""Shared by the notebook benchmarks: find the lessons and execute a notebook in a fresh kernel."""
from __future__ import annotations

import glob
import os
import sys
import time

import nbformat
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = sorted(glob.glob(os.path.join(ROOT, "grader", "course", "source", "lesson*", "lesson*.ipynb")))
STUDENT = sorted(glob.glob(os.path.join(ROOT, "notebooks", "lesson*.ipynb")))


def execute(path: str, grading: bool, extra_cells: list[str] = ()) -> tuple[nbformat.NotebookNode, dict]:
    """Run ``path`` (plus ``extra_cells`` at the end); return the notebook and timings in seconds."""
    nb = nbformat.read(path, as_version=4)
    for code in extra_cells:
        nb.cells.append(nbformat.v4.new_code_cell(code))
    env = {**os.environ, "COURSE_MODEL": "course", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("COURSE_GRADING", None)
    if grading:
        env["COURSE_GRADING"] = "1"
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={
        "metadata": {"path": os.path.dirname(path)}})
    client.km = client.create_kernel_manager()
    start = time.perf_counter()
    client.start_new_kernel(env=env)
    client.start_new_kernel_client()
    started = time.perf_counter()
    try:
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
    finally:
        client._cleanup_kernel()
    end = time.perf_counter()
    return nb, {"kernel_start": started - start, "cells": end - started}


def python_startup_seconds() -> float:
    """Baseline measured in this run: a bare Python that imports course_utils."""
    import subprocess

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import course_utils"], check=True)
    return time.perf_counter() - start
