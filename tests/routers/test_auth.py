"""The token endpoint by RFC 6749, with authlib as the OAuth2 client against a real server."""

import time

import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client

from tests.factories import PASSWORD
from tests.helpers import assert_oauth_error, assert_problem


def test_authlib_signs_in_refreshes_and_fails(live_server, world):
    token_url = f"{live_server}/v1/auth/token"
    with OAuth2Client(token_endpoint=token_url, timeout=10) as oauth:
        token = oauth.fetch_token(token_url, username=world.a.physio.email, password=PASSWORD)
        assert token["token_type"] == "bearer" and token["expires_in"] == 15 * 60
        assert oauth.get(f"{live_server}/v1/patients/{world.a.patient.id}").status_code == 200

        refreshed = oauth.refresh_token(token_url, refresh_token=token["refresh_token"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        assert oauth.get(f"{live_server}/v1/patients/{world.a.patient.id}").status_code == 200

        # The rotated-away refresh token is a reuse: refused, and the family is revoked.
        with pytest.raises(OAuthError) as reused:
            oauth.refresh_token(token_url, refresh_token=token["refresh_token"])
        assert reused.value.error == "invalid_grant"

        with pytest.raises(OAuthError) as wrong:
            oauth.fetch_token(token_url, username=world.a.physio.email, password="not the password")
        assert wrong.value.error == "invalid_grant"
        assert wrong.value.description == "The email or password is not right."


def test_authlib_refreshes_an_expired_token_by_itself(live_server, world):
    token_url = f"{live_server}/v1/auth/token"
    with OAuth2Client(token_endpoint=token_url, timeout=10) as oauth:
        first = oauth.fetch_token(token_url, username=world.b.physio.email, password=PASSWORD)
        oauth.token = {**first, "expires_at": int(time.time()) - 60}
        assert oauth.get(f"{live_server}/v1/patients/{world.b.patient.id}").status_code == 200
        assert oauth.token["refresh_token"] != first["refresh_token"]


def test_token_endpoint_errors_are_rfc_6749(client, world):
    url = "/v1/auth/token"
    assert_oauth_error(client.post(url, data={"grant_type": "password"}), 400, "invalid_request")
    assert_oauth_error(client.post(url, data={"grant_type": "refresh_token"}), 400, "invalid_request")
    assert_oauth_error(client.post(url, json={"username": "x"}), 400, "invalid_request")
    assert_oauth_error(
        client.post(url, data={"grant_type": "client_credentials"}), 400, "unsupported_grant_type"
    )
    assert_oauth_error(
        client.post(url, data={"grant_type": "refresh_token", "refresh_token": "nope"}),
        400,
        "invalid_grant",
        "invalid_refresh_token",
    )
    # Every other endpoint stays problem+json.
    assert_problem(client.post("/v1/auth/refresh", json={"refresh_token": "nope"}), 401)
