#!/usr/bin/env python3
"""Writes src/phone/metadata.json: the parts of libphonenumber's metadata that parsing and
validating a number need, taken from the PyPI `phonenumbers` package (the reference the tests
compare herald with), so that herald and the reference read the same data.

    pip install phonenumbers==9.0.43 && python3 src/phone/make_metadata.py
"""
import json
import os
import re
import sys

import phonenumbers
from phonenumbers import PhoneMetadata

VERSION = "9.0.43"
# The order libphonenumber's number-type check tries them in.
TYPES = ["premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
         "voicemail", "fixed_line", "mobile"]


def lengths(values):
    return [n for n in (values or ()) if n >= 0]


def desc(d, with_local=False):
    if d is None or not d.national_number_pattern:
        return None
    out = {"pattern": d.national_number_pattern, "lengths": lengths(d.possible_length)}
    if with_local:
        out["local"] = lengths(d.possible_length_local_only)
    return out


def rust_replacement(rule):
    # Python writes group references as \1; Rust's regex crate as ${1}.
    return None if rule is None else re.sub(r"\\(\d)", r"${\1}", rule)


def region(meta):
    return {
        "id": meta.id,
        "code": meta.country_code,
        "international_prefix": meta.international_prefix,
        "national_prefix_for_parsing": meta.national_prefix_for_parsing,
        "national_prefix_transform_rule": rust_replacement(meta.national_prefix_transform_rule),
        "leading_digits": meta.leading_digits,
        "general": desc(meta.general_desc, with_local=True),
        "types": [t for t in (desc(getattr(meta, name)) for name in TYPES) if t is not None],
    }


def main():
    if phonenumbers.__version__ != VERSION:
        sys.exit(f"make_metadata.py wants phonenumbers {VERSION}, found {phonenumbers.__version__}: "
                 f"pip install phonenumbers=={VERSION}")
    regions = {}
    for code in sorted(phonenumbers.SUPPORTED_REGIONS):
        regions[code] = region(PhoneMetadata.metadata_for_region(code))
    non_geo = {}
    for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        non_geo[str(cc)] = region(PhoneMetadata.metadata_for_nongeo_region(cc))
    codes = {str(cc): list(r) for cc, r in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items())}
    out = {"version": VERSION, "codes": codes, "regions": regions, "non_geo": non_geo}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metadata.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        f.write("\n")
    print(f"{path}: {len(regions)} regions, {len(non_geo)} non-geographic codes", file=sys.stderr)


if __name__ == "__main__":
    main()
