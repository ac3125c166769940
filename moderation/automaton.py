"""Aho–Corasick multi-pattern matching: one pass over the text finds every listed word, however many there are."""

from collections import deque
from dataclasses import dataclass, field


@dataclass
class _Node:
    children: dict[str, int] = field(default_factory=dict)
    fail: int = 0
    outputs: list[int] = field(default_factory=list)  # indexes of patterns ending here


class Automaton:
    def __init__(self, patterns: list[str]) -> None:
        self.patterns = patterns
        self._nodes = [_Node()]
        for index, pattern in enumerate(patterns):
            if pattern:
                self._insert(pattern, index)
        self._link()

    def _insert(self, pattern: str, index: int) -> None:
        node = 0
        for char in pattern:
            nxt = self._nodes[node].children.get(char)
            if nxt is None:
                self._nodes.append(_Node())
                nxt = len(self._nodes) - 1
                self._nodes[node].children[char] = nxt
            node = nxt
        self._nodes[node].outputs.append(index)

    def _link(self) -> None:
        queue = deque(self._nodes[0].children.values())
        while queue:
            current = queue.popleft()
            for char, child in self._nodes[current].children.items():
                queue.append(child)
                fail = self._nodes[current].fail
                while fail and char not in self._nodes[fail].children:
                    fail = self._nodes[fail].fail
                target = self._nodes[fail].children.get(char, 0)
                self._nodes[child].fail = target if target != child else 0
                self._nodes[child].outputs += self._nodes[self._nodes[child].fail].outputs

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """Every match as (start, end_exclusive, pattern_index), overlapping ones included."""
        matches = []
        node = 0
        for position, char in enumerate(text):
            while node and char not in self._nodes[node].children:
                node = self._nodes[node].fail
            node = self._nodes[node].children.get(char, 0)
            for index in self._nodes[node].outputs:
                matches.append((position - len(self.patterns[index]) + 1, position + 1, index))
        return matches
