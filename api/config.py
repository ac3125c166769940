"""Configuration from environment variables; defaults run on one machine with SQLite and local disk."""

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from api.docs_assets import ASSETS_URL

# Per-member allowances; ":new_member" variants apply below NEW_MEMBER_LEVEL. Staff are exempt.
DEFAULT_ACTION_LIMITS = {
    "post": "10 per hour;30 per day",
    "post:new_member": "3 per day",
    "reply": "6 per minute;300 per day",
    "reply:new_member": "3 per minute;50 per day",
    "like": "60 per minute;500 per day",
    "report": "20 per day",
    "report:new_member": "5 per day",
    "idea": "3 per day",
    "support": "30 per hour;200 per day",
}


def _secret(instance: Path, env_name: str) -> str:
    """Use the environment's secret, else one generated once and kept in the instance folder."""
    if os.environ.get(env_name):
        return os.environ[env_name]
    path = instance / f"{env_name.lower()}.txt"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _words(value: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in value.split(",") if word.strip())


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


def load_config(instance: Path) -> dict[str, Any]:
    env = os.environ
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'community.db'}"
    redis_url = env.get("REDIS_URL") or None
    return {
        "SECRET_KEY": _secret(instance, "SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": database_url,
        # A pooled connection that rested this long is checked with a round trip before use (kernel/db.py).
        "DATABASE_PING_AFTER_IDLE_SECONDS": float(env.get("DATABASE_PING_AFTER_IDLE_SECONDS", 5)),
        "REDIS_URL": redis_url,
        "STORE_PREFIX": env.get("STORE_PREFIX", "bc:"),
        # Without Redis, the store is this SQLite file, shared by every worker process on the machine.
        "STORE_PATH": env.get("STORE_PATH", str(instance / "store.db")),
        # Reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated addresses or CIDRs).
        "TRUSTED_PROXIES": env.get("TRUSTED_PROXIES", ""),
        "COMMUNITY_TZ": env.get("COMMUNITY_TZ", "Asia/Shanghai"),
        "MEDIA_ROOT": env.get("MEDIA_ROOT", str(instance / "media")),
        "MAX_CONTENT_LENGTH": int(env.get("MAX_UPLOAD_BYTES", 10 * 1024 * 1024)),
        # JSON bodies are small: the longest post is 20,000 characters.
        "MAX_JSON_BYTES": int(env.get("MAX_JSON_BYTES", 256 * 1024)),
        "MEDIA_MAX_PIXELS": int(env.get("MEDIA_MAX_PIXELS", 40_000_000)),
        "UPLOAD_RATE_LIMIT": env.get("UPLOAD_RATE_LIMIT", "60 per hour"),
        # Background work (Celery). With CELERY_BROKER_URL set, reactions leave the request for the workers
        # unless EVENTS_INLINE says otherwise; without it, beat's jobs use REDIS_URL or a local SQLite broker.
        "CELERY_BROKER_URL": env.get("CELERY_BROKER_URL")
        or redis_url
        or f"sqla+sqlite:///{instance / 'celery-broker.db'}",
        "CELERY_RESULT_BACKEND": env.get("CELERY_RESULT_BACKEND", ""),
        "CELERY_BEAT_SCHEDULE_FILE": env.get("CELERY_BEAT_SCHEDULE_FILE", str(instance / "celerybeat-schedule")),
        "EVENTS_INLINE": _flag("EVENTS_INLINE", "CELERY_BROKER_URL" not in env),
        "EVENT_MAX_RETRIES": int(env.get("EVENT_MAX_RETRIES", 5)),
        "EVENT_RETRY_BASE_SECONDS": int(env.get("EVENT_RETRY_BASE_SECONDS", 2)),
        "EVENT_RETRY_MAX_SECONDS": int(env.get("EVENT_RETRY_MAX_SECONDS", 600)),
        # The sweep re-dispatches events still without reactions this long after they were written.
        "EVENT_SWEEP_GRACE_SECONDS": int(env.get("EVENT_SWEEP_GRACE_SECONDS", 60)),
        # Feed pages, and post pages for signed-out readers, are cached this long (0 disables); per-viewer fields
        # never are.
        "FEED_CACHE_SECONDS": int(env.get("FEED_CACHE_SECONDS", 10)),
        # Tokens
        "JWT_SECRET_KEY": _secret(instance, "JWT_SECRET_KEY"),
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=int(env.get("JWT_ACCESS_MINUTES", 15))),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=int(env.get("JWT_REFRESH_DAYS", 30))),
        # Password hashing (argon2id); tests lower the cost.
        "ARGON2_TIME_COST": int(env.get("ARGON2_TIME_COST", 3)),
        "ARGON2_MEMORY_KIB": int(env.get("ARGON2_MEMORY_KIB", 65536)),
        # WeChat mini-program sign-in
        "WECHAT_API_BASE": env.get("WECHAT_API_BASE", "https://api.weixin.qq.com"),
        "WECHAT_APPID": env.get("WECHAT_APPID", ""),
        "WECHAT_SECRET": env.get("WECHAT_SECRET", ""),
        "WECHAT_TIMEOUT": float(env.get("WECHAT_TIMEOUT", 5)),
        # Content security: msgSecCheck and mediaCheckAsync on what members publish, when WeChat is configured.
        "CONTENT_SECURITY": _flag("CONTENT_SECURITY", True),
        # WeChat's push messages (media-check verdicts): the token, and the EncodingAESKey in encrypted mode.
        "WECHAT_PUSH_TOKEN": env.get("WECHAT_PUSH_TOKEN", ""),
        "WECHAT_PUSH_AES_KEY": env.get("WECHAT_PUSH_AES_KEY", ""),
        # This service's public address (WeChat fetches held images from it to check them).
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        # Subscribe messages: {"topic": {"template_id", "page", "data": {"thing1": "title", …}}}; see
        # forum/subscribe_messages.py. Topics without a template are in-app only.
        "WECHAT_SUBSCRIBE_TEMPLATES": json.loads(env.get("WECHAT_SUBSCRIBE_TEMPLATES") or "{}"),
        # Phone binding: the numbers' encryption key (generated into the instance folder when unset) and the actions
        # that need a bound phone (comma-separated: post, reply, idea, support, comment, order; empty: none).
        "PHONE_ENCRYPTION_KEY": _secret(instance, "PHONE_ENCRYPTION_KEY"),
        "REQUIRE_PHONE_FOR": _words(env.get("REQUIRE_PHONE_FOR", "")),
        # Versions of the privacy policy and the terms members must accept before their next write (empty: none).
        "PRIVACY_POLICY_VERSION": env.get("PRIVACY_POLICY_VERSION", ""),
        "TERMS_VERSION": env.get("TERMS_VERSION", ""),
        # Account deletion (注销): the cooling-off period, and how long a deleted username stays retired.
        "ACCOUNT_DELETION_DAYS": int(env.get("ACCOUNT_DELETION_DAYS", 7)),
        "RETIRED_USERNAME_DAYS": int(env.get("RETIRED_USERNAME_DAYS", 180)),
        # Personal-data exports: how long a download link works and the file is kept.
        "DATA_EXPORT_LINK_MINUTES": int(env.get("DATA_EXPORT_LINK_MINUTES", 30)),
        "DATA_EXPORT_KEEP_DAYS": int(env.get("DATA_EXPORT_KEEP_DAYS", 7)),
        "DATA_EXPORT_ROOT": env.get("DATA_EXPORT_ROOT", str(instance / "exports")),
        # WeChat Pay API v3 (the mini-program's payments); unset WECHATPAY_MCHID leaves it off.
        "WECHATPAY_API_BASE": env.get("WECHATPAY_API_BASE", "https://api.mch.weixin.qq.com"),
        "WECHATPAY_MCHID": env.get("WECHATPAY_MCHID", ""),
        "WECHATPAY_APPID": env.get("WECHATPAY_APPID") or env.get("WECHAT_APPID", ""),
        "WECHATPAY_CERT_SERIAL": env.get("WECHATPAY_CERT_SERIAL", ""),
        "WECHATPAY_PRIVATE_KEY": env.get("WECHATPAY_PRIVATE_KEY", ""),
        "WECHATPAY_APIV3_KEY": env.get("WECHATPAY_APIV3_KEY", ""),
        "WECHATPAY_PUBLIC_KEY": env.get("WECHATPAY_PUBLIC_KEY", ""),
        "WECHATPAY_PUBLIC_KEY_ID": env.get("WECHATPAY_PUBLIC_KEY_ID", ""),
        "WECHATPAY_NOTIFY_URL": env.get("WECHATPAY_NOTIFY_URL", ""),
        # Payments (pre-sale)
        "PAYMENT_WEBHOOK_SECRET": env.get("PAYMENT_WEBHOOK_SECRET", ""),
        "PAYMENT_API_BASE": env.get("PAYMENT_API_BASE", ""),
        "PAYMENT_TOLERANCE_SECONDS": int(env.get("PAYMENT_TOLERANCE_SECONDS", 300)),
        "ORDER_PAYMENT_MINUTES": int(env.get("ORDER_PAYMENT_MINUTES", 30)),
        # The Prometheus scraper's bearer token for /api/v1/metrics (unset: the route does not exist).
        "METRICS_TOKEN": env.get("METRICS_TOKEN", ""),
        # Error tracking: unhandled errors and failed jobs go to Sentry when a DSN is set.
        "SENTRY_DSN": env.get("SENTRY_DSN", ""),
        "SENTRY_ENVIRONMENT": env.get("SENTRY_ENVIRONMENT", "production"),
        # Messages follow Accept-Language (zh_CN or en); without one, the community's own language.
        "COMMUNITY_LOCALE": env.get("COMMUNITY_LOCALE", "zh_CN"),
        # Logs: JSON lines (or "console" for a terminal) at this level.
        "LOG_FORMAT": env.get("LOG_FORMAT", "json"),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        # Rate limits: the community store (Redis, or the shared SQLite file) keeps the windows.
        "RATELIMIT_ENABLED": _flag("RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": "community://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_KEY_PREFIX": "bc-limits",
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour"),
        "REGISTER_RATE_LIMIT": env.get("REGISTER_RATE_LIMIT", "5 per minute;30 per hour"),
        # Failed password sign-ins per account, whatever the address; then 429 until the window ends.
        "SIGN_IN_FAILURE_LIMIT": env.get("SIGN_IN_FAILURE_LIMIT", "10 per 15 minutes"),
        # Economy
        "CHECKIN_BONUS_EVERY": int(env.get("CHECKIN_BONUS_EVERY", 7)),
        "CHECKIN_BONUS_POINTS": int(env.get("CHECKIN_BONUS_POINTS", 20)),
        # Ideas: [[verified supporters, extra days or null to qualify], ...]
        "IDEA_INITIAL_DAYS": int(env.get("IDEA_INITIAL_DAYS", 60)),
        "IDEA_MILESTONES": json.loads(
            env.get("IDEA_MILESTONES", "[[100, 365], [1000, 182], [5000, 182], [10000, null]]")
        ),
        # Who counts toward milestones: "all" supporters (as on LEGO Ideas) or only "verified" ones (this level and
        # account age, checked live); accounts younger than IDEA_SUPPORT_MIN_ACCOUNT_HOURS cannot support.
        "IDEA_SUPPORT_POLICY": env.get("IDEA_SUPPORT_POLICY", "all"),
        "IDEA_SUPPORT_MIN_ACCOUNT_HOURS": int(env.get("IDEA_SUPPORT_MIN_ACCOUNT_HOURS", 0)),
        "IDEA_VERIFIED_MIN_LEVEL": int(env.get("IDEA_VERIFIED_MIN_LEVEL", 3)),
        "IDEA_VERIFIED_MIN_AGE_DAYS": int(env.get("IDEA_VERIFIED_MIN_AGE_DAYS", 7)),
        # Operations: activity tiers over a window of days, by count of a member's own activity events
        "TIER_WINDOW_DAYS": int(env.get("TIER_WINDOW_DAYS", 30)),
        "TIER_THRESHOLDS": json.loads(
            env.get("TIER_THRESHOLDS", '{"occasional": 1, "regular": 8, "highly_active": 30}')
        ),
        # Moderation
        "NEW_MEMBER_LEVEL": int(env.get("NEW_MEMBER_LEVEL", 2)),
        "NEW_MEMBER_REVIEW_POSTS": int(env.get("NEW_MEMBER_REVIEW_POSTS", 3)),
        "REPORT_TRUSTED_LEVEL": int(env.get("REPORT_TRUSTED_LEVEL", 2)),
        "REPORT_AUTO_HIDE_THRESHOLD": int(env.get("REPORT_AUTO_HIDE_THRESHOLD", 3)),
        "ACTION_LIMITS_ENABLED": _flag("ACTION_LIMITS_ENABLED", True),
        "ACTION_LIMITS": {**DEFAULT_ACTION_LIMITS, **json.loads(env.get("ACTION_LIMITS", "{}"))},
        # OpenAPI
        "API_TITLE": "Brand Community API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "v1/openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": ASSETS_URL,  # served by the app (api.docs_assets): no CDN
    }
