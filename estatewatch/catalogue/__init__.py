"""The device catalogue: profile files, their loader and the pure register codec."""

from estatewatch.catalogue.codec import (
    CodecError,
    RegisterImage,
    Value,
    decode_field,
    encode_field,
)
from estatewatch.catalogue.loader import (
    Catalogue,
    Profile,
    builtin_catalogue,
    load_catalogue,
    load_profile,
)
from estatewatch.catalogue.model import DataType, RegisterField, Table

__all__ = [
    "Catalogue",
    "CodecError",
    "DataType",
    "Profile",
    "RegisterField",
    "RegisterImage",
    "Table",
    "Value",
    "builtin_catalogue",
    "decode_field",
    "encode_field",
    "load_catalogue",
    "load_profile",
]
