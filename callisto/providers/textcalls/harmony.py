"""gpt-oss (OpenAI's harmony format): messages on channels; a call is a message to a function.

::

    <|channel|>analysis<|message|>The user wants the weather.<|end|>
    <|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json
    <|message|>{"city": "Paris"}<|call|>
    <|channel|>final<|message|>It is sunny.<|return|>

Each ``<|channel|>`` or ``<|start|>`` opens a message header that runs to ``<|message|>``. A
header with a recipient (``to=functions.NAME``, before or after the channel) makes the message a
call whose text is the arguments; the ``analysis`` channel is the model's reasoning, passed on
as reasoning; any other message (``final``, a ``commentary`` preamble) is content, its header removed.
End tokens left over in the content are removed too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from callisto.providers.base import ToolCall

from ._family import (
    BodyParse,
    Candidate,
    Family,
    Opener,
    PromptStyle,
    ToolIndex,
    ToolResult,
    parsed_arguments,
    stray,
)
from ._json import ScanMemo

START = "<|start|>"
CHANNEL = "<|channel|>"
MESSAGE = "<|message|>"
END = "<|end|>"
CALL = "<|call|>"
RETURN = "<|return|>"
_MESSAGE_ENDS = (CALL, END, RETURN, START, CHANNEL)
_RECIPIENT = re.compile(r"\bto=(\S+?)(?=\s|<\||$)")


def _is_hidden(header: str) -> bool:
    """Whether a header opens a message the user does not see: a call, or reasoning."""
    if _RECIPIENT.search(header) is not None:
        return True
    channel = header.rsplit(CHANNEL, 1)[-1].split()
    return bool(channel) and channel[0] == "analysis"


def message_end(
    text: str, start: int, final: bool, memo: ScanMemo, tools: ToolIndex
) -> tuple[int, int] | None:
    """End finder: a header, and for calls and reasoning the message after it too."""
    at = text.find(MESSAGE, start)
    if at < 0:
        return (len(text), len(text)) if final else None
    body_start = at + len(MESSAGE)
    if not _is_hidden(text[start:at]):
        return body_start, body_start  # the message is content: only its header goes
    ends = [(i, token) for token in _MESSAGE_ENDS if (i := text.find(token, body_start)) >= 0]
    if not ends:
        return (len(text), len(text)) if final else None
    i, token = min(ends)
    # An end token belongs to the message; the start of the next message does not.
    return i, i + len(token) if token in (CALL, END, RETURN) else i


def harmony_body(body: str, tools: ToolIndex) -> BodyParse | None:
    """Read one message: a call when its header names a recipient, reasoning on the analysis
    channel, else nothing to show."""
    header, _, message = body.partition(MESSAGE)
    recipient = _RECIPIENT.search(header)
    if recipient is None:
        return BodyParse(reasoning=message.strip() if _is_hidden(header) else "")
    name = recipient.group(1).removeprefix("functions.")
    return BodyParse((Candidate(name, message.strip(), text=body),))


class HarmonyStyle(PromptStyle):
    """Tools as JSON; calls and results as harmony messages."""

    intro = "# Tools\n\n## functions\n\nYou can call these functions:"
    instructions = (
        "To call a function, write a message on the commentary channel to it, with the "
        "arguments as JSON:\n<|start|>assistant<|channel|>commentary to=functions.NAME "
        "<|constrain|>json<|message|>{...}<|call|>"
    )

    def calls_text(self, calls: Sequence[ToolCall]) -> str:
        """Write each call as a commentary message to its function."""
        return "".join(
            f"{START}assistant{CHANNEL}commentary to=functions.{c.name} <|constrain|>json"
            f"{MESSAGE}{json.dumps(parsed_arguments(c), ensure_ascii=False)}{CALL}"
            for c in calls
        )

    def results_text(self, results: Sequence[ToolResult]) -> str:
        """Write each result as a message from its function."""
        return "".join(
            f"{START}functions.{r.name} to=assistant{CHANNEL}commentary{MESSAGE}{r.content}{END}"
            for r in results
        )


HARMONY = Family(
    "harmony",
    (
        Opener(CHANNEL, message_end, harmony_body),
        Opener(START, message_end, harmony_body),
        stray(END),
        stray(CALL),
        stray(RETURN),
    ),
    HarmonyStyle(),
)
