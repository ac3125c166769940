"""Extension singletons, bound to the app in the factory."""

from flask import request
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_migrate import Migrate

from api.errors import CommunityApi


def _client_key() -> str:
    # Behind a proxy, ProxyFix (configured in the factory) makes remote_addr the client's address.
    return request.remote_addr or "unknown"


api = CommunityApi()
jwt = JWTManager()
limiter = Limiter(key_func=_client_key)
migrate = Migrate()
