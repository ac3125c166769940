"""The address WeChat pushes messages to: its URL check, and the verdicts of asynchronous image checks."""

import marshmallow as ma
from flask import Response, current_app, request

from api.blueprint import Blueprint
from api.errors import documented_errors
from forum import wechat_push
from moderation import content_security

blp = Blueprint("wechat_push", __name__, url_prefix="/api/v1/wechat", description="WeChat push messages")

TEXT = {"type": "string"}


class PushCheckArgs(ma.Schema):
    signature = ma.fields.String(required=True, validate=ma.validate.Length(max=64))
    timestamp = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[0-9]{1,12}$"))
    nonce = ma.fields.String(required=True, validate=ma.validate.Length(max=64))
    echostr = ma.fields.String(required=True, validate=ma.validate.Length(max=256))


class PushArgs(ma.Schema):
    signature = ma.fields.String(load_default="", validate=ma.validate.Length(max=64))
    timestamp = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[0-9]{1,12}$"))
    nonce = ma.fields.String(required=True, validate=ma.validate.Length(max=64))
    openid = ma.fields.String(load_default="", validate=ma.validate.Length(max=64))
    encrypt_type = ma.fields.String(load_default="", validate=ma.validate.OneOf(("", "aes")))
    msg_signature = ma.fields.String(load_default="", validate=ma.validate.Length(max=64))


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain")


@blp.route("/push", methods=["GET"])
@blp.arguments(PushCheckArgs, location="query")
@blp.response(200, schema=TEXT, content_type="text/plain", description="echostr, when the signature is WeChat's")
@documented_errors(blp, 401, 503)
def check_push_address(args) -> Response:
    """WeChat checks the push address when it is configured: a genuine check gets its `echostr` back."""
    return _text(wechat_push.verify_url(current_app.config["WECHAT_PUSH_TOKEN"], args))


@blp.route("/push", methods=["POST"])
@blp.arguments(PushArgs, location="query")
@blp.response(200, schema=TEXT, content_type="text/plain", description="success")
@documented_errors(blp, 400, 401, 503)
def receive_push(args) -> Response:
    """A push message (JSON; plain or encrypted mode, verified either way). Image-check verdicts
    (`wxa_media_check`) are applied once: an image that passes is shown, one that does not stays hidden and the
    posts showing it go back to review. Other events are acknowledged and ignored."""
    cfg = current_app.config
    message = wechat_push.open_message(
        cfg["WECHAT_PUSH_TOKEN"], cfg["WECHAT_PUSH_AES_KEY"], cfg["WECHAT_APPID"], args, request.get_data()
    )
    if message.get("Event") == "wxa_media_check" and isinstance(message.get("trace_id"), str):
        found = message.get("result")
        result: dict = found if isinstance(found, dict) else {}
        label = result.get("label") if type(result.get("label")) is int else None
        content_security.apply_image_verdict(message["trace_id"], str(result.get("suggest", "")), label)
    return _text("success")
