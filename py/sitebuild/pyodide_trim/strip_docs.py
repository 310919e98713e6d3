"""The standard library's sources without their docstrings and comments, for the site's
Python bundle (run in Pyodide by run.mjs; trim_bundle.py calls strip_docs on every .py it keeps).

Pyodide ships the standard library as sources (as bytecode they would be half as big again on
the wire), and about 40% of those bytes are docstrings and comments the page never reads. Each
docstring becomes "" (so __doc__ is an empty string, not None: code that formats or appends to
a docstring keeps working) and each comment goes; line breaks stay, so every line keeps its
number and tracebacks point where they did.
"""

import ast
import io
import tokenize


def strip_docs(source):
    """source (str) without docstrings and comments, every line where it was."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line, column, in_bytes):
        # ast counts columns in UTF-8 bytes, tokenize in characters.
        text = lines[line - 1]
        if in_bytes:
            column = len(text.encode()[:column].decode())
        return starts[line - 1] + column

    spans = []  # (begin, end, replacement)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                begin = offset(first.lineno, first.col_offset, True)
                end = offset(first.end_lineno, first.end_col_offset, True)
                rest = lines[first.end_lineno - 1][end - starts[first.end_lineno - 1] :]
                if rest.strip() and not rest.lstrip().startswith("#"):  # code after it
                    continue
                breaks = first.end_lineno - first.lineno
                spans.append((begin, end, '""' + "\n" * breaks))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            if token.start[0] <= 2 and "coding" in token.string:  # an encoding declaration
                continue
            spans.append((offset(*token.start, False), offset(*token.end, False), ""))
    out = source
    for begin, end, replacement in sorted(spans, reverse=True):  # from the end: offsets hold
        out = out[:begin] + replacement + out[end:]
    out = "\n".join(line.rstrip() for line in out.split("\n"))
    compile(out, "<stripped>", "exec", dont_inherit=True)  # still Python, or the build stops
    return out
