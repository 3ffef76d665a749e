"""Is a string allowed to be shown? The single rule both the Director and the Verifier use.

A shown or spoken string is grounded when it is, after whitespace and case folding,
exactly one of the product's verified claims or approved copy lines, or an approved copy
template with each ``{slot}`` filled by an allowed value (a user interest label for
``{interest}``). Nothing else: adloom never invents product facts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from adloom.domain import GroundedText, Product

_SLOT = re.compile(r"\{([a-z_]+)\}")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split()).casefold()


def fill(template: str, slots: dict[str, str]) -> str:
    """Fill ``{slot}`` markers; a missing slot is a KeyError (the caller chose the template)."""
    return _SLOT.sub(lambda m: slots[m.group(1)], template)


def slot_names(template: str) -> list[str]:
    return _SLOT.findall(template)


def grounding_problem(
    item: GroundedText, product: Product, slot_values: Iterable[str] = ()
) -> str | None:
    """``None`` when ``item`` is grounded in ``product``, else a one-line reason."""
    if item.source == "claim":
        claims = {c.id: c.text for c in product.verified_claims}
        if item.source_id not in claims:
            return f"cites unknown claim {item.source_id!r}"
        source_text = claims[item.source_id]
    else:
        copies = {c.id: c.text for c in product.approved_copy}
        if item.source_id not in copies:
            return f"cites unknown approved copy {item.source_id!r}"
        source_text = copies[item.source_id]
    names = slot_names(source_text)
    if set(item.slots) != set(names):
        return f"slots {sorted(item.slots)} do not match the template's {sorted(names)}"
    allowed = {normalize(v) for v in slot_values}
    for name, value in item.slots.items():
        if not value.strip() or normalize(value) not in allowed:
            return f"slot {name!r} value {value!r} is not an allowed value"
    expected = fill(source_text, item.slots) if names else source_text
    if normalize(item.text) != normalize(expected):
        return f"text {item.text!r} differs from its source {expected!r}"
    return None


def is_approved_text(text: str, product: Product, slot_values: Iterable[str] = ()) -> bool:
    """Whether a bare string (e.g. read back from a creative) matches any approved source."""
    target = normalize(text)
    values = list(slot_values)
    for claim in product.verified_claims:
        if normalize(claim.text) == target:
            return True
    for line in product.approved_copy:
        names = slot_names(line.text)
        if not names:
            if normalize(line.text) == target:
                return True
            continue
        pattern = re.escape(normalize(line.text))
        for name in names:
            pattern = pattern.replace(re.escape("{" + name + "}"), "(?P<" + name + ">.+)", 1)
        m = re.fullmatch(pattern, target)
        if m and all(v in {normalize(x) for x in values} for v in m.groupdict().values()):
            return True
    return False
