"""Fields shared by the request schemas."""

import marshmallow as ma


class BoundedList(ma.fields.List):
    """A list whose length validators run before its items are deserialised: a list of a million ids is refused
    in one step instead of after a million item checks."""

    def _deserialize(self, value, attr, data, **kwargs) -> list:
        if isinstance(value, list):
            for validator in self.validators:
                if isinstance(validator, ma.validate.Length):
                    validator(value)
        return super()._deserialize(value, attr, data, **kwargs)
