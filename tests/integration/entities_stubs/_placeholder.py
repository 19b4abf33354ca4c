"""A class that stands in for anything the SDK imports from a heavy package."""


class Placeholder:
    """Fails loudly if the Entities test flow ever uses a stubbed package."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("a stubbed heavy package was used; see entities_stubs/README.md")
