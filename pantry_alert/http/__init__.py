"""The HTTP API of ``pantry-alert serve``: a small Starlette application.

It reads the same state database and ``rules.yaml`` as the command line and
records the same human actions (resolve, acknowledge, silences, rule edits)
through the same library functions; it never evaluates rules (the timer's
``check`` does).  Modules:

- ``context``: the server's view of the installation (config reloaded when
  ``rules.yaml`` changes, "now" per request);
- ``common``: the JSON envelope, errors to status codes, bounded body reading;
- ``auth``: the bearer token on ``/api/`` and ``/metrics``;
- ``routes``: the ``/api/`` routes;
- ``slack``: Slack's interactive ``Acknowledge`` button;
- ``health``: ``/healthz`` and ``/metrics``;
- ``app``: the application factory.

Starlette, uvicorn and prometheus-client are imported only here, so only
``serve`` pays for them.
"""
