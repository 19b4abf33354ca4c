"""How long the text tool-call parser takes over a streamed reply (CPU only, no server).

Run: ``.venv/bin/python bench/textcalls_stream.py``. Each reply is fed in 4-character deltas, as
a model streams tokens; the figure is the parser's total time for the reply and per delta.
"""

from __future__ import annotations

import json
import time

from callisto.providers.base import ToolSpec
from callisto.providers.textcalls import TextCallParser, get_family

WRITE = ToolSpec(
    "write_file",
    "Write a file",
    {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}},
)
HTML = "<div class='row'><p>Hello &amp; welcome</p><a href='/x'>link</a></div>\n" * 800
LITERAL_TAGS = "def f(x):\n    return '</parameter>' if x else 1\n" * 1200


def qwen3(content: str) -> str:
    return (
        "<tool_call>\n<function=write_file>\n<parameter=path>\na.html\n</parameter>\n"
        f"<parameter=content>\n{content}\n</parameter>\n</function>\n</tool_call>"
    )


REPLIES = {
    "prose": "The answer is plain prose, with <b>tags</b> and [brackets]. " * 1500,
    "hermes, 57 KB html argument": "<tool_call>"
    + json.dumps({"name": "write_file", "arguments": {"path": "a", "content": HTML}})
    + "</tool_call>",
    "qwen3 xml, 57 KB html value": qwen3(HTML),
    "qwen3 xml, 1200 literal </parameter> in the value": qwen3(LITERAL_TAGS),
}


def main() -> None:
    for label, text in REPLIES.items():
        for family in ("auto", "hermes" if "hermes" in label else "qwen3_xml"):
            parser = TextCallParser(get_family(family), (WRITE,))
            deltas = range(0, len(text), 4)
            start = time.perf_counter()
            for i in deltas:
                parser.feed(text[i : i + 4])
            parser.finish()
            took = time.perf_counter() - start
            print(
                f"{label:52s} {family:9s} {took * 1000:8.1f} ms  "
                f"{took / len(deltas) * 1e6:6.1f} us/delta"
            )


if __name__ == "__main__":
    main()
