"""Extension singletons, bound to the app in the factory."""

from flask import request
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_migrate import Migrate

from api.errors import CommunityApi
from kernel import limits_storage  # noqa: F401  (registers the community:// limits backend)


def _client_key() -> str:
    # Behind trusted proxies (TRUSTED_PROXIES), api.proxies has already put the client's address here.
    return request.remote_addr or "unknown"


api = CommunityApi()
jwt = JWTManager()
limiter = Limiter(key_func=_client_key)
migrate = Migrate()
