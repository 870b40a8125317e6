import pytest
from pydantic import ValidationError

from app.config import PLACEHOLDER_SECRET, Settings


@pytest.mark.parametrize("env", ["test", "prod"])
def test_placeholder_or_short_secret_is_refused_outside_dev(env):
    with pytest.raises(ValidationError, match="HEP_SECRET_KEY"):
        Settings(env=env, secret_key=PLACEHOLDER_SECRET)
    with pytest.raises(ValidationError, match="HEP_SECRET_KEY"):
        Settings(env=env, secret_key="short")
    assert Settings(env=env, secret_key="x" * 32).secret_key == "x" * 32


def test_dev_runs_with_the_placeholder():
    assert Settings(env="dev", secret_key=PLACEHOLDER_SECRET).env == "dev"
