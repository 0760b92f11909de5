"""A small Python syntax highlighter for read-only code: keywords, built-ins, strings, comments, numbers, definitions."""

from __future__ import annotations

import builtins
import keyword
import re

from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument


def _format(color: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(color))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setFontItalic(italic)
    return fmt


# Colours readable on white and on the light yellow of a changed line.
KEYWORD = _format("#0b4f9c", bold=True)
BUILTIN = _format("#6f42c1")
DEFINITION = _format("#005c5c", bold=True)
NUMBER = _format("#a14a00")
STRING = _format("#1a7f37")
COMMENT = _format("#6a737d", italic=True)

_WORDS = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_DEFINITION = re.compile(r"\b(?:def|class)\s+([A-Za-z_][A-Za-z0-9_]*)")
_NUMBER = re.compile(r"(?<![\w.])(?:0[xX][0-9a-fA-F_]+|\d[\d_]*\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)[jJ]?\b")
# Strings and comments in one pass, so a '#' inside a string or a quote inside a comment is not misread.
_STRING_OR_COMMENT = re.compile(
    r"""(?P<triple>[rRbBfFuU]{0,2}(?:'''|\"\"\"))|(?P<string>[rRbBfFuU]{0,2}(?:'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))|(?P<comment>\#.*)"""
)
_KEYWORDS = frozenset(keyword.kwlist)
_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))
# Block states: inside a triple-quoted string that started on an earlier line.
_OUTSIDE, _IN_SINGLE_TRIPLE, _IN_DOUBLE_TRIPLE = 0, 1, 2


class PythonHighlighter(QSyntaxHighlighter):
    """Colours Python source line by line; triple-quoted strings may span lines."""

    def __init__(self, document: QTextDocument):
        super().__init__(document)

    def highlightBlock(self, text: str) -> None:  # noqa: N802 - Qt's name
        start = 0
        state = self.previousBlockState()
        if state in (_IN_SINGLE_TRIPLE, _IN_DOUBLE_TRIPLE):
            quote = "'''" if state == _IN_SINGLE_TRIPLE else '"""'
            end = text.find(quote)
            if end < 0:
                self.setFormat(0, len(text), STRING)
                self.setCurrentBlockState(state)
                return
            start = end + 3
            self.setFormat(0, start, STRING)
        self.setCurrentBlockState(_OUTSIDE)
        self._code(text, start)

    def _code(self, text: str, start: int) -> None:
        """Highlight text[start:], which begins outside any string."""
        pos = start
        while pos <= len(text):
            m = _STRING_OR_COMMENT.search(text, pos)
            end = m.start() if m else len(text)
            self._plain(text, pos, end)
            if m is None:
                return
            if m.group("triple"):
                quote = m.group("triple")[-3:]
                close = text.find(quote, m.end())
                if close < 0:
                    self.setFormat(m.start(), len(text) - m.start(), STRING)
                    self.setCurrentBlockState(_IN_SINGLE_TRIPLE if quote == "'''" else _IN_DOUBLE_TRIPLE)
                    return
                self.setFormat(m.start(), close + 3 - m.start(), STRING)
                pos = close + 3
            elif m.group("string"):
                self.setFormat(m.start(), m.end() - m.start(), STRING)
                pos = m.end()
            else:
                self.setFormat(m.start(), m.end() - m.start(), COMMENT)
                return

    def _plain(self, text: str, start: int, end: int) -> None:
        """Code outside strings and comments: keywords, built-ins, numbers, the names def and class define."""
        segment = text[start:end]
        for m in _WORDS.finditer(segment):
            word = m.group()
            if word in _KEYWORDS:
                self.setFormat(start + m.start(), len(word), KEYWORD)
            elif word in _BUILTINS:
                self.setFormat(start + m.start(), len(word), BUILTIN)
        for m in _NUMBER.finditer(segment):
            self.setFormat(start + m.start(), m.end() - m.start(), NUMBER)
        for m in _DEFINITION.finditer(segment):
            self.setFormat(start + m.start(1), m.end(1) - m.start(1), DEFINITION)


def formats_at(highlighter: PythonHighlighter, line: int) -> list[tuple[int, int, QTextCharFormat]]:
    """The (start, length, format) ranges the highlighter gave a line (for tests)."""
    block = highlighter.document().findBlockByNumber(line)
    ranges = block.layout().formats()  # held: the formats live in this list's C++ copy
    return [(r.start, r.length, QTextCharFormat(r.format)) for r in ranges]
