"""The risk gate: every order is checked here before it can reach an exchange."""

__all__: list[str] = []
