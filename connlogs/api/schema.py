"""OpenAPI descriptions that drf-spectacular cannot infer on its own."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SessionTokenScheme(OpenApiAuthenticationExtension):
    """The three ways a token may be sent (header, cookie, bearer), as three schemes."""

    target_class = "connlogs.api.auth.SessionTokenAuthentication"
    name = ["CoderSessionToken", "CoderSessionCookie", "BearerToken"]

    def get_security_requirement(self, auto_schema):
        # Alternatives, one scheme each: any one of them authenticates. (One requirement
        # naming all three would mean "all three at once", and Swagger UI would then send
        # none of them, so its "curl" lacked the token.)
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "Coder-Session-Token"},
            {"type": "apiKey", "in": "cookie", "name": "coder_session_token"},
            {"type": "http", "scheme": "bearer"},
        ]


def empty_query_values_mean_absent(result, generator, request, public):
    """Say in the schema that an empty optional query parameter counts as absent.

    ``?after_id=`` is no cursor and ``?limit=`` is the default, as in Coder's parser; without
    ``allowEmptyValue`` the schema would call those requests invalid.
    """
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
    return result
