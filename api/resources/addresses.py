"""The member's address book, and fulfilment staff's audited reads of it."""

import marshmallow as ma

from api.auth import auth_required, current_member
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.fields import BoundedList
from c2b import addresses

blp = Blueprint("addresses", __name__, url_prefix="/api/v1", description="Delivery addresses")

NOT_BLANK = ma.validate.Regexp(r"\s*\S")


class AddressIn(ma.Schema):
    recipient = ma.fields.String(required=True, validate=[ma.validate.Length(min=1, max=40), NOT_BLANK])
    phone = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^1[3-9][0-9]{9}$"),
        metadata={"description": "a mainland mobile number, 11 digits"},
    )
    province = ma.fields.String(required=True, validate=[ma.validate.Length(min=1, max=20), NOT_BLANK])
    city = ma.fields.String(required=True, validate=[ma.validate.Length(min=1, max=20), NOT_BLANK])
    district = ma.fields.String(load_default="", validate=ma.validate.Length(max=20))
    detail = ma.fields.String(required=True, validate=[ma.validate.Length(min=1, max=120), NOT_BLANK])
    is_default = ma.fields.Boolean(load_default=False)


class ShipTo(ma.Schema):
    """An address as it is written on a parcel."""

    recipient = ma.fields.String()
    phone = ma.fields.String()
    province = ma.fields.String()
    city = ma.fields.String()
    district = ma.fields.String()
    detail = ma.fields.String()


class AddressOut(ShipTo):
    id = ma.fields.Integer()
    is_default = ma.fields.Boolean()
    masked = ma.fields.Boolean(metadata={"description": "true in lists: name, phone and street are partly hidden"})


class AddressList(ma.Schema):
    items = BoundedList(ma.fields.Nested(AddressOut), required=True)


class ReadReason(ma.Schema):
    reason = ma.fields.String(
        required=True,
        validate=[ma.validate.Length(min=2, max=200), ma.validate.Regexp(r"(\s*\S){2}")],
        metadata={"description": "why you need the address (kept in the audit log)"},
    )


def _whole(address: addresses.Address) -> dict:
    return {"id": address.id, **address.as_dict(), "is_default": address.is_default, "masked": False}


def _masked(address: addresses.Address) -> dict:
    return {**_whole(address), **addresses.mask(address.as_dict()), "masked": True}


@blp.route("/me/addresses", methods=["GET"])
@auth_required(blp)
@blp.response(200, AddressList)
def my_addresses() -> dict:
    """Your addresses, default first, masked (open one to see it whole)."""
    return {"items": [_masked(a) for a in addresses.my_addresses(current_member())]}


@blp.route("/me/addresses", methods=["POST"])
@auth_required(blp)
@blp.arguments(AddressIn)
@blp.response(201, AddressOut)
@documented_errors(blp, 409)
def add_address(body) -> dict:
    """Add an address (at most 20); the first one, or one marked is_default, becomes the default."""
    return _whole(addresses.add(current_member(), body))


@blp.route("/me/addresses/<int:address_id>", methods=["GET"])
@auth_required(blp)
@blp.response(200, AddressOut)
@documented_errors(blp, 404)
def get_address(address_id: int) -> dict:
    """One of your addresses, whole."""
    return _whole(addresses.own_address(current_member(), address_id))


@blp.route("/me/addresses/<int:address_id>", methods=["PUT"])
@auth_required(blp)
@blp.arguments(AddressIn)
@blp.response(200, AddressOut)
@documented_errors(blp, 404)
def change_address(body, address_id: int) -> dict:
    """Replace one of your addresses; orders that already chose it keep their copy."""
    return _whole(addresses.change(current_member(), address_id, body))


@blp.route("/me/addresses/<int:address_id>", methods=["DELETE"])
@auth_required(blp)
@blp.response(204)
@documented_errors(blp, 404)
def delete_address(address_id: int) -> None:
    """Delete one of your addresses; orders keep their copy."""
    addresses.remove(current_member(), address_id)


@blp.route("/members/<int:member_id>/addresses", methods=["GET"])
@auth_required(blp, "fulfilment")
@blp.arguments(ReadReason, location="query")
@blp.response(200, AddressList)
@documented_errors(blp, 404)
def member_addresses(args, member_id: int) -> dict:
    """A member's addresses, whole (fulfilment staff; every read is audited with its reason)."""
    found = addresses.read_for_fulfilment(current_member(), member_id, args["reason"])
    return {"items": [_whole(a) for a in found]}
