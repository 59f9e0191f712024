"""Lesson 1, exercise 4: ``<|endoftext|>`` as the separator between documents.

The streams are built from texts at check time with the course tokenizer; nothing is stored here.
"""
from course_utils.checking import FunctionProblem, call_student, mistake


class SplitDocuments(FunctionProblem):
    """``split_documents(ids)``: a stream of ids, documents joined by ``<|endoftext|>``, cut into
    the documents (a list of lists of ids, no ``<|endoftext|>`` in them, no empty ones)."""

    id = "lesson1.q4"
    var = "split_documents"
    public_probes = [["The end.", "A new start"], ["First.", "Second.", ""]]
    hidden_probes = [["One document only"], ["", "Starts with one"], ["Ends with a separator", ""],
                     ["Two", "", "in a row"]]
    hints = ("In the training data `<|endoftext|>` sat *between* documents: it is a separator, like "
             "the comma in a CSV line, and it is one id, not several.",
             "Find that one id from the tokenizer (by the token's role, or by converting its string), "
             "then walk through the ids, starting a new document after each separator; keep only the "
             "documents that hold at least one id.",
             "```\ndef split_documents(ids):\n    documents, current = [], []\n    for token_id in ids:\n"
             "        if ...:   # is this the separator?\n            ...\n        else:\n"
             "            current.append(token_id)\n    ...   # the last document\n"
             "    return [d for d in documents if d]\n```")

    def run_probe(self, function, spec):
        return call_student(function, self.stream(spec))

    def stream(self, texts):
        """The ids of ``texts`` joined by ``<|endoftext|>``, as the training data joined documents."""
        return self.ctx.tokenizer.encode(self.ctx.tokenizer.eos_token.join(texts))

    def pieces(self, spec):
        """The ids between separators, empty pieces included."""
        pieces, eos = [[]], self.ctx.tokenizer.eos_token_id
        for token_id in self.stream(spec):
            if token_id == eos:
                pieces.append([])
            else:
                pieces[-1].append(token_id)
        return pieces

    def expected(self, spec):
        return tuple(piece for piece in self.pieces(spec) if piece)   # a record: document by document

    def wrong_form(self, answer, spec):
        if not isinstance(answer, list) or not all(isinstance(doc, list) for doc in answer):
            return "`split_documents` should return a list of documents, each a list of ids"
        return None

    @mistake("`<|endoftext|>` separates documents: it does not belong to the document before it. Leave "
             "it out of every document.")
    def separator_kept_at_end(self, spec):
        return self._with_separator(spec, at_end=True)

    @mistake("`<|endoftext|>` separated documents in the training data; it did not begin each one. "
             "Leave it out of every document.")
    def separator_kept_at_start(self, spec):
        return self._with_separator(spec, at_end=False)

    def _with_separator(self, spec, at_end):
        eos, documents = self.ctx.tokenizer.eos_token_id, [[]]
        for token_id in self.stream(spec):
            if token_id == eos and at_end:
                documents[-1].append(token_id)
                documents.append([])
            elif token_id == eos:
                documents.append([token_id])
            else:
                documents[-1].append(token_id)
        return tuple(doc for doc in documents if doc)

    @mistake("Nothing was split: no id matched your separator. `tokenizer.encode('<|endoftext|>')` is a "
             "*list* holding the id, and an id never equals a list (nor a string): compare with the id itself.")
    def never_split(self, spec):
        ids = self.stream(spec)
        return (ids,) if ids else ()

    @mistake("An empty document is no document: when two separators meet, or one starts or ends the "
             "stream, leave out the empty list between them.")
    def empty_kept(self, spec):
        return tuple(self.pieces(spec))

    def diagnose(self, answer, expected, spec):
        if len(answer) != len(expected):
            return f"the stream holds {len(expected)} documents and you returned {len(answer)}"
        return None

    def describe_probe(self, spec):
        return "the documents " + repr(spec) + " joined by <|endoftext|>"
