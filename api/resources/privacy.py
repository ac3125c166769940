"""Personal information: phone binding, policy acceptance, account deletion (注销) and data export."""

import io
from datetime import datetime

import marshmallow as ma
from flask import Response, current_app, send_file

from api.auth import auth_required, current_member, policy_exempt
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.fields import BoundedList
from api.pagination import PageArgs, page_body, page_of
from api.schemas import MemberSummary
from forum import phones, policies
from forum.subscribe_messages import server_client
from kernel import clock
from operations import account_deletion, data_export

blp = Blueprint("privacy", __name__, url_prefix="/api/v1", description="Personal information")


class PhoneCode(ma.Schema):
    code = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=128),
        metadata={"description": "the code from the mini-program's getPhoneNumber button"},
    )


class PhoneOut(ma.Schema):
    phone = ma.fields.String(allow_none=True, metadata={"description": "masked: 138****5678; null when unbound"})
    required_for = BoundedList(ma.fields.String(), metadata={"description": "actions that need a bound phone"})


def _phone_state(member) -> dict:
    return {"phone": phones.masked_phone(member.id), "required_for": list(current_app.config["REQUIRE_PHONE_FOR"])}


@blp.route("/me/phone", methods=["GET"])
@auth_required(blp)
@blp.response(200, PhoneOut)
def my_phone() -> dict:
    """Your bound phone (masked) and where the community requires one."""
    return _phone_state(current_member())


@blp.route("/me/phone", methods=["PUT"])
@auth_required(blp)
@blp.arguments(PhoneCode)
@blp.response(200, PhoneOut)
@documented_errors(blp, 409, 503)
def bind_phone(body) -> dict:
    """Bind (or change) your phone with a getPhoneNumber code; the number is checked with WeChat, stored
    encrypted, one account per number."""
    member = current_member()
    phones.bind(member, body["code"], server_client())
    return _phone_state(member)


@blp.route("/me/phone", methods=["DELETE"])
@auth_required(blp)
@blp.response(200, PhoneOut)
def unbind_phone() -> dict:
    """Remove your phone number."""
    member = current_member()
    phones.unbind(member)
    return _phone_state(member)


class PhoneLookup(ma.Schema):
    phone = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^1[3-9][0-9]{9}$"))
    reason = ma.fields.String(
        required=True,
        validate=[ma.validate.Length(min=2, max=200), ma.validate.Regexp(r"(\s*\S){2}")],
        metadata={"description": "why (kept in the audit log)"},
    )


@blp.route("/members/by-phone", methods=["GET"])
@auth_required(blp, "operator")
@blp.arguments(PhoneLookup, location="query")
@blp.response(200, MemberSummary)
@documented_errors(blp, 404)
def member_by_phone(args) -> object:
    """Find the member who bound a phone number (operators; every lookup is audited with its reason)."""
    return phones.find_by_phone(current_member(), args["phone"], args["reason"].strip())


class PoliciesOut(ma.Schema):
    current = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.String(), metadata={"description": "policy → version"}
    )
    accepted = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(allow_none=True))
    pending = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.String(), metadata={"description": "to accept before writing"}
    )


class PoliciesIn(ma.Schema):
    privacy = ma.fields.String(validate=ma.validate.Length(min=1, max=40))
    terms = ma.fields.String(validate=ma.validate.Length(min=1, max=40))


def _policies(member) -> dict:
    return {
        "current": policies.current_versions(),
        "accepted": policies.accepted(member),
        "pending": policies.pending(member),
    }


@blp.route("/me/policies", methods=["GET"])
@auth_required(blp)
@blp.response(200, PoliciesOut)
def my_policies() -> dict:
    """The current privacy policy and terms versions and which ones you accepted."""
    return _policies(current_member())


@blp.route("/me/policies", methods=["POST"])
@auth_required(blp)
@policy_exempt
@blp.arguments(PoliciesIn, required=False)
@blp.response(200, PoliciesOut)
@documented_errors(blp, 409)
def accept_policies(body) -> dict:
    """Accept the versions you were shown (they must be the current ones); until you do, writes answer 403
    `policy_acceptance_required`."""
    member = current_member()
    policies.accept(member, body)
    return _policies(member)


class DeletionIn(ma.Schema):
    confirm = ma.fields.String(
        required=True, validate=ma.validate.Equal(account_deletion.CONFIRMATION), metadata={"description": "注销"}
    )


class DeletionOut(ma.Schema):
    deletion_requested_at = ma.fields.DateTime()
    deletion_due_at = ma.fields.DateTime(metadata={"description": "after this the account is erased"})


@blp.route("/me/deletion", methods=["POST"])
@auth_required(blp)
@policy_exempt
@blp.arguments(DeletionIn)
@blp.response(202, DeletionOut)
def request_deletion(body) -> object:
    """Delete your account (注销): every session ends now; after ACCOUNT_DELETION_DAYS your personal data is
    erased and your content shows as 已注销用户. Signing in again before then cancels the deletion."""
    return account_deletion.request_deletion(current_member(), body["confirm"])


class ExportIn(ma.Schema):
    format = ma.fields.String(load_default="zip", validate=ma.validate.OneOf(data_export.FORMATS))


class DownloadLink(ma.Schema):
    url = ma.fields.String()
    expires_at = ma.fields.DateTime()


class ExportOut(ma.Schema):
    id = ma.fields.Integer()
    format = ma.fields.String()
    status = ma.fields.String(metadata={"description": "pending, ready, expired"})
    size_bytes = ma.fields.Integer()
    created_at = ma.fields.DateTime()
    ready_at = ma.fields.DateTime(allow_none=True)
    expires_at = ma.fields.DateTime(allow_none=True)
    download = ma.fields.Nested(DownloadLink, allow_none=True, metadata={"description": "a link valid for minutes"})


def _export_out(export, now: datetime) -> dict:
    shown = {k: getattr(export, k) for k in ExportOut._declared_fields if k != "download"}
    return {**shown, "download": data_export.download_link(export, now)}


@blp.route("/me/data-exports", methods=["POST"])
@auth_required(blp)
@policy_exempt
@blp.arguments(ExportIn, required=False)
@blp.response(202, ExportOut)
def request_export(body) -> dict:
    """Ask for a copy of your personal data (profile, posts, replies, ideas, supports, ledger, orders, addresses,
    consents) as JSON or a ZIP of JSON files; a job prepares it within minutes."""
    return _export_out(data_export.request_export(current_member(), body.get("format", "zip")), clock.now())


@blp.route("/me/data-exports", methods=["GET"])
@auth_required(blp)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(ExportOut))
@documented_errors(blp, 400)
def my_exports(args) -> dict:
    """Your exports, newest first, each ready one with a fresh download link."""
    now = clock.now()
    page = data_export.my_exports(current_member(), args["limit"], args["cursor"])
    return page_body(page, lambda export: _export_out(export, now))


@blp.route("/me/data-exports/<int:export_id>", methods=["GET"])
@auth_required(blp)
@blp.response(200, ExportOut)
@documented_errors(blp, 404)
def my_export(export_id: int) -> dict:
    """One of your exports; when ready, with a download link valid for DATA_EXPORT_LINK_MINUTES."""
    return _export_out(data_export.own_export(current_member(), export_id), clock.now())


class DownloadArgs(ma.Schema):
    expires = ma.fields.Integer(required=True, validate=ma.validate.Range(min=0, max=2**40))
    signature = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[0-9a-f]{64}$"))


@blp.route("/data-exports/<int:export_id>/download", methods=["GET"])
@blp.arguments(DownloadArgs, location="query")
@blp.response(200, content_type="application/octet-stream", description="the JSON or ZIP file")
@documented_errors(blp, 404, 409)
def download_export(args, export_id: int) -> Response:
    """The file behind a signed download link (no sign-in: the link is the key, and it expires)."""
    path, name = data_export.open_download(export_id, args["expires"], args["signature"], clock.now())
    # Read whole (a member's data is small): the response holds no open file, however the client goes away.
    response = send_file(io.BytesIO(path.read_bytes()), as_attachment=True, download_name=name, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response
