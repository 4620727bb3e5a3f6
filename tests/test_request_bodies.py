"""One request-body parser for every route and one text check shared by the CLI and the API:
deep nesting, lone surrogates and odd shapes are a 400 (exit 2), never a 500 (exit 70)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from api_server import Api
from conftest import BREACH_METRICS
from test_api_slack import SECRET, sign

from pantry_alert.http.common import HttpError, parse_json

DEEP = "[" * 10_000 + "]" * 10_000


@pytest.mark.parametrize(
    "body, status, message",
    [
        (DEEP, 400, "malformed JSON body: nested more than 32 levels deep"),
        (
            '{"note": "\\ud800x"}',
            400,
            "JSON body.note: holds a lone surrogate (\\ud800) at character 1, which is not text",
        ),
        ('{"a": "' + "x" * 70_000 + '"}', 413, "JSON body over the limit of 64 KiB"),
        ('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', None, None),
    ],
)
def test_parse_json_bounds(body, status, message):
    if status is None:
        assert parse_json(body) == {"a": "[" * 36}
        return
    with pytest.raises(HttpError) as info:
        parse_json(body)
    assert (info.value.status, info.value.message) == (status, message)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from conftest import ROOT, Cli

    cli = Cli(tmp_path_factory.mktemp("bodies"))
    cli.config.write_text((ROOT / "rules.yaml").read_text())
    assert cli.check(BREACH_METRICS).code == 0
    with Api(cli, env={"SLACK_SIGNING_SECRET": SECRET}) as server:
        yield cli, server


def first_alert(cli) -> str:
    return cli("list", "--json").json()[0]["id"]


def test_routes_refuse_deep_json_and_lone_surrogates_with_400(api):
    cli, server = api
    alert = first_alert(cli)
    headers = {"Content-Type": "application/json"}
    cases = [
        ("/api/alerts/rules", DEEP),
        (f"/api/alerts/{alert}/acknowledge", '{"note": "x\\udcff"}'),
        (f"/api/alerts/{alert}/acknowledge", '{"by": "\\ud800"}'),
        (f"/api/alerts/{alert}/resolve", '{"note": "\\udfff"}'),
        ("/api/silences", '{"rule": "high_error_rate", "for": "1h", "reason": "\\ud800"}'),
    ]
    for path, body in cases:
        response = server.client.post(path, content=body.encode(), headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["success"] is False
    shown = cli("show", alert, "--json")
    assert shown.code == 0 and shown.json()["status"] == "firing"


@pytest.mark.parametrize(
    "payload",
    [
        '{"type": "block_actions", "actions": 5}',
        '{"type": "block_actions", "actions": [{"action_id": "acknowledge_alert", "value": "\\ud800"}]}',
        "[" * 10_000 + "]" * 10_000,
    ],
)
def test_odd_signed_slack_payloads_are_never_a_500(api, payload):
    _, server = api
    body = urlencode({"payload": payload}).encode()
    response = server.anon.post("/slack/actions", content=body, headers=sign(body))
    assert response.status_code in (200, 400), response.text


@pytest.mark.parametrize("option", ["--by", "--note"])
def test_cli_refuses_lone_surrogates_with_exit_2(cli, option):
    assert cli.check(BREACH_METRICS).code == 0
    alert = first_alert(cli)
    result = cli("ack", alert, option, "x\udcff")
    assert result.code == 2, result.err
    name = option.removeprefix("--")
    assert f"error: {name}: holds a lone surrogate (\\udcff) at character 2, which is not text" in result.err
    assert cli("show", alert, "--json").json()["status"] == "firing"
    silence = cli("silence", "add", "high_error_rate", "--for", "1h", "--reason", "\udcff")
    assert silence.code == 2
    assert json.loads(cli("silence", "list", "--json").out) == []
