"""Data protection mode: people and addresses in connection logs as stable pseudonyms.

* ``pseudonyms``: the key (a deployment secret and a rotating salt) and the HMAC that turns a
  user id or an address into its pseudonym; the index of the pseudonyms shown;
* ``identities``: ``Identities``, what one viewer (or one stream) is shown of the people and
  addresses in log rows, for every door: model rows, export tuples and contract JSON;
* ``resolve``: a pseudonym typed into ``q`` matches the rows its real value would
  (``resolve_person``, ``resolve_ip``), and a real value typed by a viewer who may not see it
  matches nothing, by the same query;
* ``deferred``: work done after the response is sent (the index, the access log's chain).

docs/privacy.md describes the mode for operators.
"""
