"""Keyword search (BM25, as Redis's query engine scores BM25STD) over passages held in this
process: postings per word in flat arrays, scored with numpy for one query at a time.  A
removed passage stays in the postings, masked out, until the index is built again."""

from __future__ import annotations

import math
import re
from array import array

import numpy as np

K1, B = 1.2, 0.75
STOPWORDS = frozenset("""a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he her
here hers him his how i if in into is it its itself just me more most my no nor not of off on once only or other our
ours out over own same she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom why will with would you your
yours""".split())
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The searchable words of a text: lower case, no stopwords, at least two characters."""
    return [word for word in _WORD.findall(text.lower()) if len(word) > 1 and word not in STOPWORDS]


def counted(text: str) -> dict[str, int]:
    """How often each searchable word occurs in ``text``."""
    counts: dict[str, int] = {}
    for word in words(text):
        counts[word] = counts.get(word, 0) + 1
    return counts


class KeywordIndex:
    def __init__(self) -> None:
        self._postings: dict[str, tuple[array, array]] = {}  # word -> (documents, counts)
        self._lengths = array("f")
        self._alive = array("b")
        self._total = 0.0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, text: str) -> int:
        """Index one passage; returns its document number."""
        return self.add_counted(counted(text))

    def add_counted(self, counts: dict[str, int]) -> int:
        """Index one passage by its words' counts (:func:`counted`, which may run in another thread)."""
        doc = len(self._lengths)
        for word, count in counts.items():
            docs, tfs = self._postings.setdefault(word, (array("i"), array("f")))
            docs.append(doc)
            tfs.append(count)
        length = float(sum(counts.values()))
        self._lengths.append(length)
        self._alive.append(1)
        self._total += length
        self._count += 1
        return doc

    def remove(self, doc: int) -> None:
        if 0 <= doc < len(self._alive) and self._alive[doc]:
            self._alive[doc] = 0
            self._total -= self._lengths[doc]
            self._count -= 1

    def search(self, query: str, n: int) -> list[tuple[int, float]]:
        """The ``n`` best documents for ``query`` with their scores (none: no word matches)."""
        terms = set(words(query))
        if not terms or not self._count:
            return []
        lengths = np.frombuffer(self._lengths, dtype=np.float32)
        scores = np.zeros(len(lengths), dtype=np.float32)
        average = self._total / self._count
        for term in terms:
            found = self._postings.get(term)
            if found is None:
                continue
            docs = np.frombuffer(found[0], dtype=np.int32)
            tfs = np.frombuffer(found[1], dtype=np.float32)
            idf = math.log(1.0 + (self._count - len(docs) + 0.5) / (len(docs) + 0.5))
            scores[docs] += idf * tfs * (K1 + 1) / (tfs + K1 * (1 - B + B * lengths[docs] / average))
        scores *= np.frombuffer(self._alive, dtype=np.int8)
        hits = int(np.count_nonzero(scores))
        if not hits:
            return []
        take = min(n, hits)
        best = np.argpartition(-scores, take - 1)[:take] if take < len(scores) else np.arange(len(scores))
        best = best[np.argsort(-scores[best], kind="stable")][:take]
        return [(int(doc), float(scores[doc])) for doc in best if scores[doc] > 0]
