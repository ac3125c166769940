"""Image uploads and serving."""

import marshmallow as ma
from flask import Response, current_app, request, send_file
from flask_smorest.fields import Upload

from api.auth import auth_required, current_member
from api.blueprint import Blueprint, accepts
from api.errors import documented_errors
from api.extensions import limiter
from api.forum_schemas import ImageOut, image_out
from forum import media
from forum.storage import MediaStorage
from kernel.errors import NotFound, ValidationFailed
from moderation import content_security

blp = Blueprint("media", __name__, url_prefix="/api/v1/media", description="Image uploads")


class UploadIn(ma.Schema):
    file = Upload(
        required=True, metadata={"description": "JPEG, PNG, WebP or GIF; recognised by content", "minLength": 1}
    )


class MediaArgs(ma.Schema):
    size = ma.fields.String(load_default="full", validate=ma.validate.OneOf(("full", "thumb")))
    expires = ma.fields.Integer(
        load_default=None, validate=ma.validate.Range(min=0, max=2**40), metadata={"description": "with check"}
    )
    check = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^[0-9a-f]{64}$"),
        metadata={"description": "the signature on the link WeChat's content check fetches a held image by"},
    )


def _storage() -> MediaStorage:
    return current_app.extensions["media_storage"]


def _upload_limit() -> str:
    return current_app.config["UPLOAD_RATE_LIMIT"]


@blp.route("", methods=["POST"])
@accepts("multipart/form-data")
@auth_required(blp)
@limiter.limit(_upload_limit)
@blp.arguments(UploadIn, location="files")
@blp.response(201, ImageOut)
@documented_errors(blp, 413, 415, 429)
def upload(files) -> dict:
    """Upload an image: re-encoded without EXIF/GPS, auto-oriented, thumbnailed. Attach it to a post by id. With
    WeChat configured it is held (not served) until WeChat's content check passes it."""
    if request.form:  # only the file is part of an upload
        raise ValidationFailed("unexpected fields", details={name: ["unknown field"] for name in request.form})
    data = files["file"].read()
    if not data:
        raise ValidationFailed("the file is empty", details={"file": ["empty file"]})
    member = current_member()
    item = media.store_upload(member, data, _storage(), current_app.config["MEDIA_MAX_PIXELS"])
    content_security.submit_image(member, item)
    return image_out(item)


@blp.route("/<int:media_id>", methods=["GET"])
@blp.arguments(MediaArgs, location="query")
@blp.response(200, content_type="image/*", description="the image bytes")
@documented_errors(blp, 404)
def serve(args, media_id: int) -> Response:
    """The image (or its JPEG thumbnail with ?size=thumb). Served with nosniff and a locked-down CSP. An image
    held by WeChat's content check is not found until it passes (WeChat itself fetches it by a signed link)."""
    item = media.get_media(media_id)
    fetched_for_check = (
        item.check_status == "pending"
        and args["check"] is not None
        and args["expires"] is not None
        and content_security.can_fetch_for_check(item.id, args["expires"], args["check"])
    )
    if not item.shown and not fetched_for_check:
        raise NotFound("no such media", code="media_not_found")
    thumb = args["size"] == "thumb"
    response = send_file(
        _storage().path(item.thumb_key if thumb else item.storage_key),
        mimetype=item.thumb_mime if thumb else item.mime,
        max_age=31536000,
        conditional=True,
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    return response
