"""A username -> id lookup assistant, with instructions set per run.

The assistant's own instructions are general; each run gets extra instructions naming the
person it serves (``additional_instructions``), as the Assistants API allows. Unknown
usernames come back as a tool error the model can read, not as a crash.

Run it against a Callisto server (the built-in offline model needs no API key)::

    .venv/bin/callisto serve &
    .venv/bin/python examples/user_lookup.py

``CALLISTO_BASE_URL``, ``CALLISTO_API_KEY`` and ``CALLISTO_MODEL`` choose another server, key or
model (see ``examples/_common.py``).
"""

from __future__ import annotations

from _common import MODEL, check, client, run

from callisto.tools import Toolbox, run_until_done, tool

USERS = {"alice": "u_1001", "bob": "u_1002"}


@tool(deterministic=True)
def get_user_id(username: str) -> str:
    """Look up a user's id from their username.

    Args:
        username: The username, e.g. "Alice".
    """
    try:
        return USERS[username.lower()]
    except KeyError:
        raise LookupError(f"no user named {username!r}") from None


def main() -> None:
    """Look up one known and one unknown user, each in its own run."""
    sdk = client()
    toolbox = Toolbox([get_user_id])
    assistant = sdk.beta.assistants.create(
        name="Directory",
        model=MODEL,
        instructions="You look up user ids.",
        tools=toolbox.openai_tools(),
    )
    for name, expect_ok in (("Alice", True), ("Mallory", False)):
        thread = sdk.beta.threads.create(
            messages=[{"role": "user", "content": f"Find the user id for username {name}"}]
        )
        outcome = run_until_done(
            sdk,
            thread.id,
            assistant.id,
            toolbox,
            additional_instructions=f"You are helping the operator on duty; be brief about {name}.",
        )
        print(f"{name}: {outcome.text}")
        check(outcome.run.status == "completed", f"run for {name} ended {outcome.run.status}")
        check(bool(outcome.tool_results), f"no lookup was made for {name}")
        check(outcome.tool_results[0].ok == expect_ok, f"unexpected lookup result for {name}")
        if expect_ok:
            check("u_1001" in outcome.text, "the answer does not give Alice's id")


if __name__ == "__main__":
    run(main)
