"""The model layer's one error."""


class ModelError(Exception):
    """The model could not answer; ``kind`` is safe to log, the message is not shown to users."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind
