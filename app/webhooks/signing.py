"""Standard Webhooks signatures (https://www.standardwebhooks.com): `v1,` + base64 HMAC-SHA256.

The algorithm of the `standardwebhooks` package, written out so the service does not depend on it;
the tests verify every message with that package.
"""

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signature_header(signing_secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature per secret, space-separated: receivers accept a message if any one matches."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in signing_secrets)
