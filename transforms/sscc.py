"""SSCC-18, the GS1 Serial Shipping Container Code that identifies a carton or pallet (AI 00).

Extension digit + GS1 Company Prefix + serial reference (prefix and serial together 16 digits) + the
GS1 mod-10 check digit = 18 digits (domain reference §2.2; GS1 General Specifications §7.9.1). The
serial reference must not be reused for at least twelve months: which serial comes next is the
caller's state (the flow's counter), not this module's.
"""

from __future__ import annotations

PREFIX_DIGITS = (4, 12)  # GS1 Company Prefix lengths GS1 assigns (7–10 are the usual ones)


class SsccError(ValueError):
    pass


def gs1_check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit of ``digits`` (any GS1 key without its check digit).

    From the right, digits are weighted 3, 1, 3, …; the check digit brings the sum to a multiple of 10.
    """
    if not digits.isascii() or not digits.isdigit():
        raise SsccError(f"a GS1 key is digits only, not {digits!r}")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def make_sscc(extension: int, company_prefix: str, serial: int) -> str:
    """The 18-digit SSCC for ``serial`` under ``company_prefix`` with ``extension`` (0–9)."""
    if isinstance(extension, bool) or not isinstance(extension, int) or not 0 <= extension <= 9:
        raise SsccError(f"the extension digit is 0-9, not {extension!r}")
    low, high = PREFIX_DIGITS
    if not (company_prefix.isascii() and company_prefix.isdigit() and low <= len(company_prefix) <= high):
        raise SsccError(f"a GS1 Company Prefix is {low}-{high} digits, not {company_prefix!r}")
    width = 16 - len(company_prefix)
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial < 10**width:
        raise SsccError(f"serial {serial!r} does not fit the {width} digits prefix {company_prefix} leaves")
    body = f"{extension}{company_prefix}{serial:0{width}d}"
    return body + str(gs1_check_digit(body))


def is_valid_sscc(code: str) -> bool:
    """True for 18 ASCII digits whose last is the GS1 check digit of the first 17."""
    return (
        isinstance(code, str)
        and len(code) == 18
        and code.isascii()
        and code.isdigit()
        and gs1_check_digit(code[:17]) == int(code[17])
    )


def validate_sscc(code: str) -> str:
    """``code`` when it is a valid SSCC-18; SsccError saying what is wrong otherwise."""
    if not is_valid_sscc(code):
        if isinstance(code, str) and len(code) == 18 and code.isascii() and code.isdigit():
            raise SsccError(f"SSCC {code}: check digit {code[17]} is wrong, {gs1_check_digit(code[:17])} expected")
        raise SsccError(f"an SSCC is 18 digits, not {code!r}")
    return code
