import pytest
from pydantic import ValidationError

from app.config import PLACEHOLDER_SECRET, Settings


@pytest.mark.parametrize("env", ["test", "prod"])
def test_placeholder_or_short_secret_is_refused_outside_dev(env):
    with pytest.raises(ValidationError, match="HEP_SECRET_KEY"):
        Settings(env=env, secret_key=PLACEHOLDER_SECRET)
    with pytest.raises(ValidationError, match="HEP_SECRET_KEY"):
        Settings(env=env, secret_key="short")
    assert Settings(env=env, secret_key="x" * 32, argon2_profile="rfc9106-low-memory").secret_key == "x" * 32


def test_dev_runs_with_the_placeholder():
    assert Settings(env="dev", secret_key=PLACEHOLDER_SECRET).env == "dev"


def test_cheapest_password_hashing_is_refused_in_prod():
    with pytest.raises(ValidationError, match="HEP_ARGON2_PROFILE"):
        Settings(env="prod", secret_key="x" * 32, argon2_profile="cheapest")


def test_password_hashes_are_argon2id():
    from app.security import hash_password, verify_password

    hashed = hash_password("a long password")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "a long password") and not verify_password(hashed, "another one")
