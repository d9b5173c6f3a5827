"""multipart/form-data parsing, tolerant of what real clients send.

Quoted parameters with backslash escapes, RFC 5987 ext-values (filename*=UTF-8''...), bare-LF line ends and part
data that contains the boundary text (not followed by a line end) are all handled; a body without its closing
boundary is rejected.
"""

from __future__ import annotations

import re
import urllib.parse

from .errors import ApiError


class Part:
    """One form field or file: its name, filename and content type from the part headers, and its bytes."""

    __slots__ = ("name", "filename", "content_type", "headers", "data")

    def __init__(self, name, filename, content_type, headers, data):
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.headers = headers
        self.data = data

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def parse_header_params(value: str):
    """Parse 'main; a=1; b="x; \\"y\\""' into ('main', {'a': '1', 'b': 'x; "y"'}).

    Handles quoted strings with backslash escapes and RFC 5987 ext-values
    (name*=UTF-8''percent-encoded), which take precedence over plain ones.
    """
    items = []
    i, n = 0, len(value)
    cur = []
    while i < n:
        c = value[i]
        if c == '"':
            # copy the quoted string verbatim (with its quotes) for later
            j = i + 1
            cur.append(c)
            while j < n:
                d = value[j]
                if d == "\\" and j + 1 < n:
                    cur.append(value[j:j + 2])
                    j += 2
                    continue
                cur.append(d)
                j += 1
                if d == '"':
                    break
            i = j
            continue
        if c == ";":
            items.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    items.append("".join(cur))

    main = items[0].strip().lower()
    params = {}
    extended = {}
    for item in items[1:]:
        if "=" not in item:
            continue
        key, _, val = item.partition("=")
        key = key.strip().lower()
        val = val.strip()
        if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        if key.endswith("*"):
            charset, sep, rest = val.partition("'")
            if sep:
                _lang, _, encoded = rest.partition("'")
                try:
                    val = urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="replace")
                except LookupError:
                    val = urllib.parse.unquote(encoded)
            extended[key[:-1]] = val
        else:
            params[key] = val
    params.update(extended)
    return main, params


def _is_delimiter_end(body: bytes, end: int) -> bool:
    """A delimiter is followed by '--', or by optional padding and a line break."""
    if body.startswith(b"--", end):
        return True
    while end < len(body) and body[end] in b" \t":
        end += 1
    return end >= len(body) or body[end] in b"\r\n"


def _find_delimiter(body: bytes, delim: bytes, start: int):
    """Return (end of part data, start of the delimiter) for the next real delimiter.

    Prefers CRLF-delimiters; accepts bare-LF ones from sloppy clients.
    """
    for lead in (b"\r\n", b"\n"):
        needle = lead + delim
        i = body.find(needle, start)
        while i >= 0:
            if _is_delimiter_end(body, i + len(needle)):
                return i, i + len(lead)
            i = body.find(needle, i + 1)
    raise ApiError(400, "malformed multipart body: closing boundary missing")


def parse_multipart(body: bytes, content_type: str) -> list:
    main, params = parse_header_params(content_type)
    if main != "multipart/form-data":
        raise ApiError(400, "expected a multipart/form-data request body (got %r)" % (main or "nothing"))
    boundary = params.get("boundary")
    if not boundary or len(boundary) > 200:
        raise ApiError(400, "multipart/form-data without a valid boundary")
    delim = b"--" + boundary.encode("latin-1", "replace")

    # the first delimiter: at the very start, or after a line break
    if body.startswith(delim) and _is_delimiter_end(body, len(delim)):
        pos = 0
    else:
        try:
            pos = _find_delimiter(body, delim, 0)[1]
        except ApiError:
            raise ApiError(400, "malformed multipart body: boundary not found")
    parts = []
    while True:
        pos += len(delim)
        if body.startswith(b"--", pos):
            break  # closing delimiter
        # skip transport padding and the line break after the delimiter
        eol = body.find(b"\n", pos)
        if eol < 0:
            raise ApiError(400, "malformed multipart body: truncated after boundary")
        pos = eol + 1
        # part headers end at an empty line
        hdr_end = body.find(b"\r\n\r\n", pos)
        sep_len = 4
        lf_end = body.find(b"\n\n", pos)
        if lf_end >= 0 and (hdr_end < 0 or lf_end < hdr_end):
            hdr_end, sep_len = lf_end, 2
        if body.startswith(b"\r\n", pos):
            hdr_end, sep_len = pos, 2  # part with no headers at all
        elif body.startswith(b"\n", pos):
            hdr_end, sep_len = pos, 1
        if hdr_end < 0:
            raise ApiError(400, "malformed multipart body: part headers not terminated")
        raw_headers = body[pos:hdr_end].decode("utf-8", "replace")
        data_start = hdr_end + sep_len
        data_end, pos = _find_delimiter(body, delim, data_start)

        headers = {}
        for line in re.split(r"\r?\n", raw_headers):
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        _disp, dparams = parse_header_params(headers.get("content-disposition", ""))
        ctype = headers.get("content-type", "")
        parts.append(Part(dparams.get("name"), dparams.get("filename"), ctype, headers, body[data_start:data_end]))
    return parts
