"""OpenAPI descriptions that drf-spectacular cannot infer on its own."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SessionTokenScheme(OpenApiAuthenticationExtension):
    """The three ways a token may be sent (header, cookie, bearer), as three schemes."""

    target_class = "connlogs.api.auth.SessionTokenAuthentication"
    name = ["CoderSessionToken", "CoderSessionCookie", "BearerToken"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "Coder-Session-Token"},
            {"type": "apiKey", "in": "cookie", "name": "coder_session_token"},
            {"type": "http", "scheme": "bearer"},
        ]
