"""Compile field specs (plain JSON data) into fast validators.

A validator takes the raw attribute value and returns ``None`` when it is valid, otherwise a
``Problem``: ``(code, detail, sub_pointer, hard)``. ``hard`` problems are input errors (wrong JSON
type, unexpected key, NUL byte, non-finite or absurd number, oversize): the API rejects them with
422. Other problems are verdicts (bad unit, out of range, unsupported method...): the lot is
accepted but the field does not count towards a level.

Shapes (``spec["shape"]``): text, enum, polymer_code, percent, number, boolean, document,
cas_number, method, grade_code, collection, list, measurement, measurement_set.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Final

from app.grades import units
from app.grades.methods import MethodMatcher

__all__ = [
    "MAX_ABS_NUMBER",
    "MAX_STRING",
    "PolymerVocab",
    "Problem",
    "Validator",
    "compile_spec",
    "escape_pointer",
    "polymer_vocab",
    "sanitize",
]

Problem = tuple[str, str, str, bool]
Validator = Callable[[Any], Problem | None]

MAX_ABS_NUMBER: Final = 1e12
MAX_STRING: Final = 2000
MAX_DEPTH: Final = 6
MAX_ITEMS: Final = 100

_NUMBER_TYPES: Final = (int, float)
_BASE_MEASUREMENT_KEYS: Final = frozenset(
    {"value", "mean", "sd", "min", "max", "n", "unit", "method", "conditions", "lot_specific"}
    | {"evidence_id", "quantity"}
)
_PERCENT_KEYS: Final = frozenset({"value", "unit", "method", "evidence_id", "lot_specific"})


def _is_map(x: Any) -> bool:
    return type(x) is dict or isinstance(x, Mapping)


def escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _hard(code: str, detail: str, ptr: str = "") -> Problem:
    return (code, detail, ptr, True)


def _soft(code: str, detail: str, ptr: str = "") -> Problem:
    return (code, detail, ptr, False)


def _number_problem(x: Any, ptr: str) -> Problem | None:
    """None when ``x`` is a finite JSON number within bounds (bool is not a number)."""
    if type(x) is float:
        if not math.isfinite(x):
            return _hard("non_finite_number", "NaN and infinity are not allowed", ptr)
        if abs(x) > MAX_ABS_NUMBER:
            return _hard("number_out_of_bounds", f"|value| must be <= {MAX_ABS_NUMBER:g}", ptr)
        return None
    if type(x) is int:
        if abs(x) > MAX_ABS_NUMBER:
            return _hard("number_out_of_bounds", f"|value| must be <= {MAX_ABS_NUMBER:g}", ptr)
        return None
    return _hard("wrong_type", f"expected a number, got {_json_type(x)}", ptr)


def _string_problem(x: Any, ptr: str, max_length: int = MAX_STRING) -> Problem | None:
    if type(x) is not str:
        return _hard("wrong_type", f"expected a string, got {_json_type(x)}", ptr)
    if "\x00" in x:
        return _hard("nul_byte", "NUL bytes are not allowed", ptr)
    if len(x) > max_length:
        return _hard("too_long", f"at most {max_length} characters", ptr)
    if not x or x.isspace():
        return _soft("empty", "empty string", ptr)
    return None


def _json_type(x: Any) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, int | float):
        return "number"
    if isinstance(x, str):
        return "string"
    if isinstance(x, list | tuple):
        return "array"
    if isinstance(x, Mapping):
        return "object"
    return type(x).__name__


def sanitize(x: Any, ptr: str = "", depth: int = 0) -> list[Problem]:
    """Generic hard checks on any JSON value: NUL bytes, numbers, sizes, depth, key types."""
    out: list[Problem] = []
    if depth > MAX_DEPTH:
        return [_hard("too_deep", f"nesting deeper than {MAX_DEPTH} levels", ptr)]
    if x is None or type(x) is bool:
        return out
    if type(x) in _NUMBER_TYPES:
        p = _number_problem(x, ptr)
        return [p] if p else out
    if isinstance(x, str):
        if "\x00" in x:
            out.append(_hard("nul_byte", "NUL bytes are not allowed", ptr))
        elif len(x) > MAX_STRING:
            out.append(_hard("too_long", f"at most {MAX_STRING} characters", ptr))
        return out
    if isinstance(x, list | tuple):
        if len(x) > MAX_ITEMS:
            return [_hard("too_many_items", f"at most {MAX_ITEMS} items", ptr)]
        for i, item in enumerate(x):
            out.extend(sanitize(item, f"{ptr}/{i}", depth + 1))
        return out
    if isinstance(x, Mapping):
        if len(x) > MAX_ITEMS:
            return [_hard("too_many_items", f"at most {MAX_ITEMS} keys", ptr)]
        for k, v in x.items():
            if not isinstance(k, str):
                out.append(_hard("wrong_type", "object keys must be strings", ptr))
                continue
            kp = f"{ptr}/{escape_pointer(k)}"
            if "\x00" in k or len(k) > 200:
                out.append(_hard("invalid_key", "key too long or contains NUL", kp))
                continue
            out.extend(sanitize(v, kp, depth + 1))
        return out
    return [_hard("wrong_type", f"not a JSON value: {type(x).__name__}", ptr)]


# --------------------------------------------------------------------------- vocabularies


@dataclass(frozen=True, slots=True)
class PolymerVocab:
    codes: Mapping[str, str]
    aliases: Mapping[str, str]
    base: Mapping[str, str]

    def resolve(self, raw: str) -> tuple[str | None, bool]:
        """(canonical code or None, was_alias). Blends use ``+`` (``PC+ABS``)."""
        parts = raw.strip().upper().split("+")
        out: list[str] = []
        alias_used = False
        for p in parts:
            p = p.strip()
            if p in self.codes:
                out.append(p)
            elif p in self.aliases:
                out.append(self.aliases[p])
                alias_used = True
            elif re.fullmatch(r"PA\d{1,4}(?:/\d{1,4})?", p):
                out.append(p)  # EN ISO 1874 polyamide designations (PA6/66, PA1010...)
            else:
                return None, alias_used
        return "+".join(out), alias_used

    def base_of(self, code: str) -> str:
        first = code.split("+")[0]
        if first in self.base:
            return self.base[first]
        if first.startswith("PA"):
            return "PA"
        return first


@lru_cache(maxsize=8)
def polymer_vocab(name: str = "iso1043-1") -> PolymerVocab:
    text = resources.files("app.grades.rules").joinpath(f"vocab/{name}.json").read_text("utf-8")
    data = json.loads(text)
    return PolymerVocab(data["codes"], data["aliases"], data.get("base", {}))


def _norm_token(s: str) -> str:
    return re.sub(r"[\s\-/]+", "_", s.strip().lower())


# --------------------------------------------------------------------------- compilers


def compile_spec(spec: Mapping[str, Any]) -> Validator:
    shape = spec["shape"]
    try:
        factory = _FACTORIES[shape]
    except KeyError:
        raise ValueError(f"unknown shape {shape!r}") from None
    return factory(spec)


def _text(spec: Mapping[str, Any]) -> Validator:
    max_length = int(spec.get("max_length", MAX_STRING))

    def v(x: Any) -> Problem | None:
        return _string_problem(x, "", max_length)

    return v


def _enum(spec: Mapping[str, Any]) -> Validator:
    allowed = {_norm_token(str(a)): str(a) for a in spec["values"]}
    aliases = {_norm_token(k): str(val) for k, val in (spec.get("aliases") or {}).items()}
    none_values = {_norm_token(str(a)) for a in spec.get("none_values", [])}
    none_code = str(spec.get("none_code", "invalid_value"))
    listing = ", ".join(spec["values"])

    exact = frozenset(str(a) for a in spec["values"]) | frozenset(spec.get("aliases") or {})

    def v(x: Any) -> Problem | None:
        if type(x) is str and x in exact:
            return None
        p = _string_problem(x, "", 200)
        if p:
            return p
        t = _norm_token(x)
        if t in allowed or t in aliases:
            return None
        if t in none_values:
            return _soft(none_code, f"{x!r} does not satisfy this field")
        return _soft("invalid_value", f"{x!r} is not one of: {listing}")

    return v


def _polymer(spec: Mapping[str, Any]) -> Validator:
    vocab = polymer_vocab(str(spec.get("vocab", "iso1043-1")))

    def v(x: Any) -> Problem | None:
        p = _string_problem(x, "", 100)
        if p:
            return p
        code, _ = vocab.resolve(x)
        if code is None:
            return _soft("unknown_polymer_code", f"{x!r} is not an EN ISO 1043-1 symbol")
        return None

    return v


def _range_problem(value: float, rng: Any, unit: str, ptr: str = "") -> Problem | None:
    if rng is None:
        return None
    lo, hi = float(rng[0]), float(rng[1])
    if value < lo or value > hi:
        return _soft("out_of_range", f"{value:g} {unit} is outside [{lo:g}, {hi:g}] {unit}", ptr)
    return None


def _percent(spec: Mapping[str, Any]) -> Validator:
    rng = spec.get("range", [0, 100])

    def v(x: Any) -> Problem | None:
        if type(x) in _NUMBER_TYPES:
            return _number_problem(x, "") or _range_problem(float(x), rng, "%")
        if not _is_map(x):
            return _hard("wrong_type", f"expected a number or {{value, unit}}, got {_json_type(x)}")
        for k in x:
            if k not in _PERCENT_KEYS:
                return _hard("unknown_key", f"unexpected key {k!r}", f"/{escape_pointer(str(k))}")
        if "value" not in x:
            return _soft("missing_value", "no value", "/value")
        p = _number_problem(x["value"], "/value")
        if p:
            return p
        for key in ("method", "evidence_id"):
            if key in x:
                p = _string_problem(x[key], f"/{key}")
                if p and p[3]:
                    return p
        if "lot_specific" in x and type(x["lot_specific"]) is not bool:
            return _hard("wrong_type", "expected a boolean", "/lot_specific")
        unit = x.get("unit", "%")
        if type(unit) is not str:
            return _hard("wrong_type", "unit must be a string", "/unit")
        try:
            value, _ = units.normalize(float(x["value"]), unit, "mass_fraction")
        except units.UnitError as e:
            return _soft(e.code, e.detail, "/unit")
        return _range_problem(value, rng, "%", "/value")

    return v


def _number(spec: Mapping[str, Any]) -> Validator:
    rng = spec.get("range")
    step = spec.get("step")

    def v(x: Any) -> Problem | None:
        p = _number_problem(x, "")
        if p:
            return p
        p = _range_problem(float(x), rng, "")
        if p:
            return p
        if step and not math.isclose((float(x) / float(step)) % 1.0, 0.0, abs_tol=1e-9):
            return _soft("invalid_value", f"{x} is not a multiple of {step}")
        return None

    return v


def _boolean(spec: Mapping[str, Any]) -> Validator:
    def v(x: Any) -> Problem | None:
        if type(x) is not bool:
            return _hard("wrong_type", f"expected a boolean, got {_json_type(x)}")
        return None

    return v


def _document(spec: Mapping[str, Any]) -> Validator:
    many = bool(spec.get("many", False))

    def v(x: Any) -> Problem | None:
        if many and isinstance(x, list):
            if not x:
                return _soft("empty", "at least one document reference")
            if len(x) > MAX_ITEMS:
                return _hard("too_many_items", f"at most {MAX_ITEMS} items")
            for i, item in enumerate(x):
                p = _string_problem(item, f"/{i}", 1000)
                if p:
                    return p
            return None
        return _string_problem(x, "", 1000)

    return v


_CAS = re.compile(r"^(\d{2,7})-(\d{2})-(\d)$")


def cas_checksum_ok(cas: str) -> bool:
    m = _CAS.match(cas.strip())
    if m is None:
        return False
    digits = (m.group(1) + m.group(2))[::-1]
    total = sum((i + 1) * int(d) for i, d in enumerate(digits))
    return total % 10 == int(m.group(3))


def _cas(spec: Mapping[str, Any]) -> Validator:
    def v(x: Any) -> Problem | None:
        p = _string_problem(x, "", 20)
        if p:
            return p
        if not cas_checksum_ok(x):
            return _soft("invalid_cas", f"{x!r} is not a valid CAS registry number")
        return None

    return v


def _method(spec: Mapping[str, Any]) -> Validator:
    matcher = MethodMatcher.from_refs(spec.get("methods", []))

    def v(x: Any) -> Problem | None:
        p = _string_problem(x, "", 200)
        if p:
            return p
        if not matcher.accepts(x):
            return _soft("unsupported_method", f"{x!r}; accepted: {', '.join(matcher.labels)}")
        return None

    return v


def _grade_code(spec: Mapping[str, Any]) -> Validator:
    pattern = re.compile(str(spec["pattern"]))
    known = {str(k).upper() for k in spec.get("known", {})}
    closed = bool(spec.get("closed", False))
    label = str(spec.get("label", "grade code"))

    def v(x: Any) -> Problem | None:
        p = _string_problem(x, "", 50)
        if p:
            return p
        s = x.strip()
        if closed:
            if s.upper() not in known:
                return _soft("invalid_grade_code", f"{x!r} is not a known {label}")
            return None
        if not pattern.fullmatch(s):
            return _soft("invalid_grade_code", f"{x!r} is not a well-formed {label}")
        return None

    return v


def _collection(spec: Mapping[str, Any]) -> Validator:
    parts: list[tuple[str, Validator, bool]] = []
    for name, pspec in spec["parts"].items():
        parts.append((name, compile_spec(pspec), bool(pspec.get("required", True))))
    names = frozenset(n for n, _, _ in parts)
    min_present = int(spec.get("min_present", 0))

    def v(x: Any) -> Problem | None:
        if not _is_map(x):
            return _hard("wrong_type", f"expected an object, got {_json_type(x)}")
        for k in x:
            if k not in names:
                allowed = ", ".join(sorted(names))
                return _hard("unknown_key", f"unexpected key {k!r} (allowed: {allowed})", f"/{k}")
        present = 0
        first: Problem | None = None
        for name, validate, required in parts:
            if name not in x or x[name] is None:
                if required and min_present == 0 and first is None:
                    first = _soft("missing_part", f"{name} is required", f"/{name}")
                continue
            present += 1
            p = validate(x[name])
            if p is not None:
                p = (p[0], f"{name}: {p[1]}", f"/{name}{p[2]}", p[3])
                if p[3]:
                    return p
                if first is None:
                    first = p
        if first is None and present < min_present:
            listing = " or ".join(n for n, _, _ in parts)
            first = _soft("missing_part", f"at least {min_present} of {listing} required")
        return first

    return v


def _list(spec: Mapping[str, Any]) -> Validator:
    item = compile_spec(spec["item"])
    max_items = int(spec.get("max_items", MAX_ITEMS))
    sum_rule = spec.get("sum_part_max")

    def v(x: Any) -> Problem | None:
        if not isinstance(x, list):
            return _hard("wrong_type", f"expected an array, got {_json_type(x)}")
        if len(x) > max_items:
            return _hard("too_many_items", f"at most {max_items} items")
        first: Problem | None = None
        for i, it in enumerate(x):
            p = item(it)
            if p is not None:
                p = (p[0], f"item {i}: {p[1]}", f"/{i}{p[2]}", p[3])
                if p[3]:
                    return p
                if first is None:
                    first = p
        if first is None and sum_rule:
            part = sum_rule["part"]
            total = 0.0
            for it in x:
                val = it[part]
                if isinstance(val, Mapping):
                    total += units.normalize(float(val["value"]), val.get("unit", "%"))[0]
                else:
                    total += float(val)
            if total > float(sum_rule["max"]) + 1e-9:
                first = _soft("out_of_range", f"sum of {part} is {total:g} > {sum_rule['max']}")
        return first

    return v


@dataclass(frozen=True, slots=True)
class _Quantity:
    name: str
    dimension: str
    canonical: str
    infer_units: frozenset[str]
    range: tuple[float, float] | None
    matcher: MethodMatcher | None
    any_method: bool
    cond_required: tuple[str, ...]
    cond_ranges: tuple[tuple[str, float, float], ...]
    default_unit: str | None


def _quantity(name: str, q: Mapping[str, Any]) -> _Quantity:
    dim = str(q["dimension"])
    cond = q.get("conditions") or {}
    methods = q.get("methods")
    return _Quantity(
        name=name,
        dimension=dim,
        canonical=units.canonical_unit(dim),
        infer_units=frozenset(str(u) for u in q.get("infer_units", [])),
        range=(float(q["range"][0]), float(q["range"][1])) if q.get("range") else None,
        matcher=MethodMatcher.from_refs(methods) if methods else None,
        any_method=bool(q.get("any_method", False)),
        cond_required=tuple(k for k, c in cond.items() if c.get("required")),
        cond_ranges=tuple(
            (k, float(c["range"][0]), float(c["range"][1])) for k, c in cond.items() if "range" in c
        ),
        default_unit=q.get("default_unit"),
    )


def resolve_quantity(
    quantities: tuple[_Quantity, ...], declared: Any, unit_code: str
) -> _Quantity | None:
    dim = units.unit_dimension(unit_code)
    if declared is not None:
        for q in quantities:
            if q.name == declared:
                return q if q.dimension == dim else None
        return None
    for q in quantities:
        if unit_code in q.infer_units:
            return q
    for q in quantities:
        if q.dimension == dim and not q.infer_units:
            return q
    for q in quantities:
        if q.dimension == dim:
            return q
    return None


def _check_conditions(cond: Any, q: _Quantity) -> Problem | None:
    if cond is None:
        cond = {}
    missing = [k for k in q.cond_required if k not in cond]
    if missing:
        return _soft(
            "missing_conditions",
            f"{q.name} requires test conditions: {', '.join(missing)}",
            "/conditions",
        )
    for key, lo, hi in q.cond_ranges:
        if key in cond:
            val = cond[key]
            if type(val) not in _NUMBER_TYPES:
                return _hard("wrong_type", "expected a number", f"/conditions/{key}")
            if not lo <= val <= hi:
                return _soft(
                    "invalid_conditions",
                    f"{key}={val} outside [{lo:g}, {hi:g}]",
                    f"/conditions/{key}",
                )
    return None


_NUMERIC_KEYS: Final = ("value", "mean", "sd", "min", "max")
_STRING_KEYS: Final = ("unit", "method", "evidence_id", "quantity")


def _structural(x: Mapping[str, Any], allowed: frozenset[str]) -> Problem | None:
    if not allowed.issuperset(x):
        for k in x:
            if k not in allowed:
                return _hard("unknown_key", f"unexpected key {k!r}", f"/{escape_pointer(str(k))}")
    for key in _NUMERIC_KEYS:
        if key in x:
            val = x[key]
            if (
                type(val) is float
                and math.isfinite(val)
                and -MAX_ABS_NUMBER <= val <= MAX_ABS_NUMBER
            ):
                continue
            p = _number_problem(val, f"/{key}")
            if p:
                return p
    if "n" in x and (type(x["n"]) is not int or abs(x["n"]) > MAX_ABS_NUMBER):
        return _hard("wrong_type", "n must be an integer", "/n")
    for key in _STRING_KEYS:
        if key in x:
            val = x[key]
            if val is None or (type(val) is str and len(val) <= 200 and "\x00" not in val):
                continue
            p = _string_problem(val, f"/{key}", 200)
            if p and p[3]:
                return p
    if "lot_specific" in x and type(x["lot_specific"]) is not bool:
        return _hard("wrong_type", "expected a boolean", "/lot_specific")
    if "conditions" in x:
        c = x["conditions"]
        if not isinstance(c, Mapping):
            return _hard("wrong_type", "conditions must be an object", "/conditions")
        for k, val in c.items():
            if type(val) in _NUMBER_TYPES:
                p = _number_problem(val, f"/conditions/{k}")
            elif type(val) is str:
                p = _string_problem(val, f"/conditions/{k}", 200)
            elif type(val) is bool:
                p = None
            else:
                p = _hard("wrong_type", "condition values are scalars", f"/conditions/{k}")
            if p and p[3]:
                return p
    if "value" in x and "mean" in x:
        return _hard("ambiguous_value", "give either value or mean, not both", "/mean")
    return None


def _statistics(x: Mapping[str, Any], q: _Quantity, factor: float, offset: float) -> Problem | None:
    central = x["value"] if "value" in x else x["mean"]
    rng_unit = q.canonical
    val = central * factor + offset
    p = _range_problem(val, q.range, rng_unit, "/value" if "value" in x else "/mean")
    if p:
        return p
    if "sd" in x and x["sd"] < 0:
        return _soft("inconsistent_statistics", "sd must be >= 0", "/sd")
    if "n" in x and x["n"] < 1:
        return _soft("inconsistent_statistics", "n must be >= 1", "/n")
    lo = x.get("min")
    hi = x.get("max")
    if lo is not None and lo > central:
        return _soft("inconsistent_statistics", "min > central value", "/min")
    if hi is not None and hi < central:
        return _soft("inconsistent_statistics", "max < central value", "/max")
    return None


_Resolved = tuple[_Quantity, float, float]


def _resolve_unit(
    unit: str, declared: Any, quantities: tuple[_Quantity, ...]
) -> _Resolved | Problem:
    code = units.canonicalize_unit(unit)
    if code is None:
        return _soft("unknown_unit", f"unknown unit {unit!r}", "/unit")
    q = resolve_quantity(quantities, declared, code)
    if q is None:
        if declared is not None and declared not in {qq.name for qq in quantities}:
            listing = ", ".join(qq.name for qq in quantities)
            return _soft("unknown_quantity", f"quantity {declared!r} is not one of {listing}")
        expected = ", ".join(f"{qq.name}: {qq.dimension} ({qq.canonical})" for qq in quantities)
        return _soft("invalid_unit", f"unit {unit!r} does not fit; expected {expected}", "/unit")
    offset = units.convert(0.0, code, q.canonical)
    factor = units.convert(1.0, code, q.canonical) - offset
    return q, factor, offset


def _measurement_core(
    x: Any,
    quantities: tuple[_Quantity, ...],
    allowed: frozenset[str],
    need_method: bool,
    cache: dict[tuple[str, Any], _Resolved | Problem],
) -> Problem | None:
    if not _is_map(x):
        return _hard("wrong_type", f"expected a measurement object, got {_json_type(x)}")
    p = _structural(x, allowed)
    if p:
        return p
    if "value" not in x and "mean" not in x:
        return _soft("missing_value", "a measurement needs value or mean", "/value")
    unit = x.get("unit")
    if unit is None:
        defaults = {q.default_unit for q in quantities if q.default_unit}
        if len(defaults) != 1:
            return _soft("missing_unit", "unit is required", "/unit")
        unit = defaults.pop()
    key = (unit, x.get("quantity"))
    resolved = cache.get(key)
    if resolved is None:
        resolved = _resolve_unit(unit, key[1], quantities)
        if len(cache) < 256:
            cache[key] = resolved
    if len(resolved) == 4:
        return resolved  # a Problem
    q, factor, offset = resolved
    p = _statistics(x, q, factor, offset)
    if p:
        return p
    if need_method and (q.matcher is not None or q.any_method):
        method = x.get("method")
        if method is None:
            return _soft("missing_method", "the test method (standard) is required", "/method")
        if q.matcher is not None and not q.matcher.accepts(method):
            return _soft(
                "unsupported_method",
                f"{method!r} is not accepted for {q.name}; accepted: {', '.join(q.matcher.labels)}",
                "/method",
            )
    if q.cond_required or q.cond_ranges:
        return _check_conditions(x.get("conditions"), q)
    return None


def _measurement(spec: Mapping[str, Any]) -> Validator:
    quantities = tuple(_quantity(n, q) for n, q in spec["quantities"].items())
    optional_numbers = tuple(spec.get("optional_keys", []))
    allowed = _BASE_MEASUREMENT_KEYS | frozenset(optional_numbers)
    cache: dict[tuple[str, Any], _Resolved | Problem] = {}

    def v(x: Any) -> Problem | None:
        if optional_numbers and isinstance(x, Mapping):
            for key in optional_numbers:
                if key in x:
                    p = _number_problem(x[key], f"/{key}")
                    if p:
                        return p
        return _measurement_core(x, quantities, allowed, True, cache)

    return v


_SET_KEYS: Final = frozenset({"method", "values", "conditions", "lot_specific", "evidence_id"})
_SET_ITEM_KEYS: Final = frozenset({"value", "mean", "sd", "min", "max", "n", "unit"})


def _measurement_set(spec: Mapping[str, Any]) -> Validator:
    kinds = {name: _quantity(name, {**k, "conditions": {}}) for name, k in spec["kinds"].items()}
    matcher = MethodMatcher.from_refs(spec.get("methods", []))
    caches: dict[str, dict[tuple[str, Any], _Resolved | Problem]] = {k: {} for k in kinds}
    one_kind = {k: (q,) for k, q in kinds.items()}

    def v(x: Any) -> Problem | None:
        if not _is_map(x):
            return _hard("wrong_type", f"expected an object, got {_json_type(x)}")
        p = _structural(x, _SET_KEYS)
        if p:
            return p
        values = x.get("values")
        if values is None:
            return _soft("missing_value", "values is required", "/values")
        if not isinstance(values, Mapping):
            return _hard("wrong_type", "values must be an object keyed by kind", "/values")
        for name in values:
            if name not in kinds:
                listing = ", ".join(kinds)
                return _hard("unknown_key", f"unknown kind {name!r} ({listing})", f"/values/{name}")
        first: Problem | None = None
        for name, item in values.items():
            p = _measurement_core(item, one_kind[name], _SET_ITEM_KEYS, False, caches[name])
            if p is not None:
                p = (p[0], f"{name}: {p[1]}", f"/values/{name}{p[2]}", p[3])
                if p[3]:
                    return p
                if first is None:
                    first = p
        if first:
            return first
        if not values:
            return _soft("missing_value", "at least one tensile value", "/values")
        method = x.get("method")
        if method is None:
            return _soft("missing_method", "the test method (standard) is required", "/method")
        if not matcher.accepts(method):
            return _soft(
                "unsupported_method",
                f"{method!r}; accepted: {', '.join(matcher.labels)}",
                "/method",
            )
        return None

    return v


_FACTORIES: Final[dict[str, Callable[[Mapping[str, Any]], Validator]]] = {
    "text": _text,
    "enum": _enum,
    "polymer_code": _polymer,
    "percent": _percent,
    "number": _number,
    "boolean": _boolean,
    "document": _document,
    "cas_number": _cas,
    "method": _method,
    "grade_code": _grade_code,
    "collection": _collection,
    "list": _list,
    "measurement": _measurement,
    "measurement_set": _measurement_set,
}
