"""Exceptions the engine raises on purpose.

Every message names the problem and the fix in one line, because the CLI prints it as is and the
Slicer panel shows it in an error dialog.
"""
import re


class InputError(ValueError):
    """Bad input volume, file or parameter; the message says what is wrong and how to fix it."""


class Cancelled(Exception):
    """The caller's cancel flag was set; nothing was written and nothing is returned."""


# What a message repeats of text the user gave (a path, an argument, a command line): a 10 MB
# argument must not come back as a 10 MB line, and a file name holding a line break or a terminal
# control sequence must not break the message in two or act on the terminal.
QUOTED_LIMIT = 200  # characters of one user-given word or path a message shows
LINE_LIMIT = 1000  # characters of a whole message


def shown(text, limit: int = QUOTED_LIMIT) -> str:
    """User-given `text` as a message may show it: at most `limit` characters (the middle cut out
    for an ellipsis, so a path keeps its start and its file name) and on one line, with line breaks,
    control characters and lone surrogates written as Python escapes (\\n, \\x1b, \\ud800). A byte
    that is no UTF-8 text, which Python hands over as a surrogate escape, shows as that byte (\\xff)."""
    text = str(text)
    if len(text) > limit:
        keep = max(limit - 1, 2) // 2
        text = text[:keep] + "…" + text[-keep:]
    return "".join(_escaped(character) for character in text) if _UNSAFE.search(text) else text


def one_line(message, limit: int = LINE_LIMIT) -> str:
    """A whole message as one line of at most about `limit` characters: each run of more than
    QUOTED_LIMIT characters without a space (a huge argument or path) shortened, then the message,
    then everything escaped as `shown` does. The last guard; messages quote user text through `shown`."""
    message = str(message)
    if len(message) > limit:
        keep = limit // 2
        message = message[:keep] + "…" + message[-keep:]
    message = re.sub(r"\S{%d,}" % (QUOTED_LIMIT + 1), lambda word: shown(word.group()), message)
    return "".join(_escaped(character) for character in message) if _UNSAFE.search(message) else message


# Control characters (C0, DEL, C1), line and paragraph separators and surrogates: what breaks a
# line, acts on a terminal or cannot be written as UTF-8.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _escaped(character: str) -> str:
    if not _UNSAFE.match(character):
        return character
    code = ord(character)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is no UTF-8 text, as os.fsdecode hands it over
        return f"\\x{code - 0xDC00:02x}"
    return repr(character)[1:-1] if code < 0xD800 else f"\\u{code:04x}"
