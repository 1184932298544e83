"""The API's text field: its length limit holds for the text as sent.

DRF's ``CharField`` trims surrounding whitespace first and checks ``max_length`` on what is
left, so a value the OpenAPI schema refuses (``maxLength`` counts every character sent)
could be accepted: 1,000 spaces after a 10-character name. The schema and the server must
agree (Coder's clients and our schema tests send exactly what the schema allows).
"""

from __future__ import annotations

from rest_framework import serializers


class Text(serializers.CharField):
    """``CharField`` whose ``max_length`` (characters, as JSON Schema's ``maxLength``
    counts them) applies to the value as sent, before trimming. Raises the field's
    ``max_length`` error (a 400 naming the field)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


def secret_text(help_text: str) -> Text:
    """A write-only secret of a body (an HEC token, an HMAC key): at most 1,000 characters,
    optional, blank to remove, and used exactly as given (never trimmed)."""
    return Text(
        max_length=1000,
        allow_blank=True,
        required=False,
        write_only=True,
        trim_whitespace=False,
        help_text=help_text,
    )
