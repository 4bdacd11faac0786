from __future__ import annotations

import pytest

from app.lots.codes import (
    CodeError,
    EndOfWasteStatus,
    Family,
    check_consistency,
    eow_regulations_for,
    family_hs_headings,
    known_basel_entries,
    known_hs_codes,
    known_waste_codes,
    normalise_eow_regulation,
    parse_basel_code,
    parse_end_of_waste_status,
    parse_family,
    parse_hs_code,
    parse_waste_code,
)


def _error(fn, value) -> CodeError:
    with pytest.raises(CodeError) as info:
        fn(value)
    return info.value


# ----------------------------------------------------------------- List of Waste


@pytest.mark.parametrize("raw", ["15 01 02", "150102", " 15 01 02 ", "1501 02"])
def test_waste_code_normalises(raw: str) -> None:
    entry = parse_waste_code(raw)
    assert entry.code == "15 01 02"
    assert entry.hazardous is False
    assert entry.description == "plastic packaging"
    assert entry.display == "15 01 02"
    assert entry.chapter == "15 01"


@pytest.mark.parametrize("raw", ["15 01 10*", "150110*", "15 01 10 *"])
def test_hazardous_waste_code_with_marker(raw: str) -> None:
    entry = parse_waste_code(raw)
    assert entry.code == "15 01 10"
    assert entry.hazardous is True
    assert entry.display == "15 01 10*"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("02 01 04", "02 01 04"),
        ("070213", "07 02 13"),
        ("120105", "12 01 05"),
        ("15 01 11*", "15 01 11"),
        ("16 01 17", "16 01 17"),
        ("16 01 18", "16 01 18"),
        ("16 01 19", "16 01 19"),
        ("16 01 20", "16 01 20"),
        ("16 02 14", "16 02 14"),
        ("16 02 16", "16 02 16"),
        ("17 02 03", "17 02 03"),
        ("17 04 05", "17 04 05"),
        ("19 10 01", "19 10 01"),
        ("19 12 04", "19 12 04"),
        ("19 12 11*", "19 12 11"),
        ("20 01 01", "20 01 01"),
        ("20 01 39", "20 01 39"),
        ("20 01 40", "20 01 40"),
        ("20 03 01", "20 03 01"),
    ],
)
def test_required_waste_codes_are_known(raw: str, code: str) -> None:
    assert parse_waste_code(raw).code == code


def test_chapter_19_12_is_complete() -> None:
    codes = {e.code for e in known_waste_codes() if e.chapter == "19 12"}
    assert codes == {f"19 12 {n:02d}" for n in range(1, 13)}


@pytest.mark.parametrize(
    "raw",
    [
        "15 01",
        "15010",
        "1501021",
        "15-01-02",
        "abcdef",
        "",
        "15 01 02**",
        "\uff11\uff15\uff10\uff11\uff10\uff12",  # full-width digits
    ],
)
def test_malformed_waste_code(raw: str) -> None:
    err = _error(parse_waste_code, raw)
    assert err.code == "malformed_waste_code"
    assert "six digits" in err.detail


def test_non_string_waste_code_is_malformed() -> None:
    assert _error(parse_waste_code, 150102).code == "malformed_waste_code"


@pytest.mark.parametrize("raw", ["15 01 08", "99 99 99", "19 12 13"])
def test_unknown_waste_code(raw: str) -> None:
    err = _error(parse_waste_code, raw)
    assert err.code == "unknown_waste_code"
    assert isinstance(err, ValueError)


def test_marker_on_non_hazardous_code_is_an_error() -> None:
    err = _error(parse_waste_code, "15 01 02*")
    assert err.code == "hazard_marker_mismatch"
    assert "must not carry '*'" in err.detail
    assert err.value == "15 01 02*"


def test_missing_marker_on_hazardous_code_is_an_error() -> None:
    err = _error(parse_waste_code, "19 12 11")
    assert err.code == "hazard_marker_mismatch"
    assert "'19 12 11*'" in err.detail
    # The mirror entry is suggested.
    assert "19 12 12" in err.detail


def test_marker_mismatch_names_hazardous_mirror() -> None:
    err = _error(parse_waste_code, "17 04 11*")
    assert "17 04 10*" in err.detail


def test_waste_data_is_consistent() -> None:
    entries = known_waste_codes()
    assert len({e.code for e in entries}) == len(entries)
    by_code = {e.code: e for e in entries}
    for e in entries:
        for m in e.mirror:
            assert by_code[m].hazardous != e.hazardous


# ----------------------------------------------------------------- Basel


@pytest.mark.parametrize(
    ("raw", "code", "hazardous"),
    [
        ("B3011", "B3011", False),
        ("b3011", "B3011", False),
        (" B 3020 ", "B3020", False),
        ("B1010", "B1010", False),
        ("B2020", "B2020", False),
        ("A3210", "A3210", True),
        ("y48", "Y48", False),
        ("EU3011", "EU3011", False),
        ("eu48", "EU48", False),
        ("A1180", "A1180", True),
    ],
)
def test_basel_codes(raw: str, code: str, hazardous: bool) -> None:
    entry = parse_basel_code(raw)
    assert entry.code == code
    assert entry.hazardous is hazardous


def test_legacy_basel_entries_are_flagged_superseded() -> None:
    assert parse_basel_code("B3010").superseded_by == "B3011"
    assert parse_basel_code("A1180").superseded_by == "A1181"
    assert parse_basel_code("B3011").superseded is False


def test_basel_notification_flags() -> None:
    assert parse_basel_code("EU48").requires_notification is True
    assert parse_basel_code("EU3011").requires_notification is False
    assert parse_basel_code("A3210").annex == "basel_annex_viii"


@pytest.mark.parametrize("raw", ["", "3011", "B-3011", "B30111", "ABC1", "B"])
def test_malformed_basel_code(raw: str) -> None:
    assert _error(parse_basel_code, raw).code == "malformed_basel_code"


@pytest.mark.parametrize("raw", ["B9999", "Y99", "EU12", "GC010"])
def test_unknown_basel_code(raw: str) -> None:
    assert _error(parse_basel_code, raw).code == "unknown_basel_code"


def test_basel_codes_are_unique() -> None:
    entries = known_basel_entries()
    assert len({e.code for e in entries}) == len(entries)


# ----------------------------------------------------------------- HS


@pytest.mark.parametrize("raw", ["3915.10", "391510", "3915 10", "3915.10.00", "39151000"])
def test_hs_code_normalises(raw: str) -> None:
    hs = parse_hs_code(raw)
    assert hs.code == "3915.10"
    assert hs.heading == "3915"
    assert hs.waste_scrap is True


def test_hs_cn_code_is_kept() -> None:
    assert parse_hs_code("3915.10.00").cn_code == "39151000"
    assert parse_hs_code("3915.10").cn_code is None


def test_hs_heading_only() -> None:
    hs = parse_hs_code("3915")
    assert hs.code == "3915"
    assert hs.subheading is None
    assert hs.description == "Waste, parings and scrap, of plastics"


@pytest.mark.parametrize(("raw", "code"), [("7404", "7404.00"), ("7602", "7602.00")])
def test_undivided_heading_normalises_to_subheading(raw: str, code: str) -> None:
    assert parse_hs_code(raw).code == code


@pytest.mark.parametrize(
    "code",
    [
        "3915.20", "3915.30", "3915.90", "4707.10", "4707.20", "4707.30", "4707.90",
        "7204.10", "7204.21", "7204.29", "7204.30", "7204.41", "7204.49", "7204.50",
        "7404.00", "7602.00", "7001.00", "3901.10", "3901.20", "3902.10", "3903.11",
        "3903.19", "3904.10", "3907.61", "3907.69",
    ],
)  # fmt: skip
def test_required_hs_codes_are_known(code: str) -> None:
    assert parse_hs_code(code).code == code
    assert code in known_hs_codes()


def test_primary_form_is_not_waste_scrap() -> None:
    assert parse_hs_code("3902.10").waste_scrap is False


@pytest.mark.parametrize("raw", ["391", "39151", "3915.1", "3915.10.0", "3915-10", "abcd", ""])
def test_malformed_hs_code(raw: str) -> None:
    assert _error(parse_hs_code, raw).code == "malformed_hs_code"


@pytest.mark.parametrize("raw", ["8471.30", "3915.50", "7204.20", "9999"])
def test_unknown_hs_code(raw: str) -> None:
    assert _error(parse_hs_code, raw).code == "unknown_hs_code"


# ----------------------------------------------------------------- families and status


def test_family_and_status_parsing() -> None:
    assert parse_family(" Paper ") is Family.PAPER
    assert parse_end_of_waste_status("END_OF_WASTE") is EndOfWasteStatus.END_OF_WASTE
    assert _error(parse_family, "plastics").code == "unknown_family"
    assert _error(parse_end_of_waste_status, "recycled").code == "unknown_end_of_waste_status"


def test_family_expectations() -> None:
    assert family_hs_headings("copper_scrap") == ("7404",)
    assert "3915" in family_hs_headings(Family.PLASTIC_RECYCLATE)
    assert eow_regulations_for("ferrous_scrap") == ("333/2011",)
    assert eow_regulations_for("aluminium_scrap") == ("333/2011",)
    assert eow_regulations_for("copper_scrap") == ("715/2013",)
    assert eow_regulations_for("glass_cullet") == ("1179/2012",)
    assert eow_regulations_for("paper") == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Regulation (EU) No 333/2011", "333/2011"),
        ("715/2013", "715/2013"),
        ("VO (EU) Nr. 1179/2012", "1179/2012"),
        ("end of waste", None),
    ],
)
def test_normalise_eow_regulation(raw: str, expected: str | None) -> None:
    assert normalise_eow_regulation(raw) == expected


# ----------------------------------------------------------------- consistency


def _codes(warnings) -> list[str]:
    return [w.code for w in warnings]


def test_consistent_plastic_waste_lot_has_no_warnings() -> None:
    warnings = check_consistency(
        "plastic_waste",
        form="bales",
        status="waste",
        waste_code="15 01 02",
        basel_code="EU3011",
        hs_code="3915.10",
    )
    assert warnings == []


def test_consistent_regranulate_has_no_warnings() -> None:
    warnings = check_consistency(
        Family.PLASTIC_RECYCLATE, form="regranulate", status="product", hs_code="3902.10"
    )
    assert warnings == []


def test_hs_heading_of_another_family() -> None:
    warnings = check_consistency("plastic_recyclate", hs_code="7404")
    assert _codes(warnings) == ["hs_family_mismatch"]
    assert warnings[0].field == "hs_code"
    assert "7404" in warnings[0].detail


def test_waste_scrap_heading_with_product_status() -> None:
    warnings = check_consistency("plastic_recyclate", status="product", hs_code="3915.10")
    assert _codes(warnings) == ["hs_waste_scrap_with_product_status"]
    assert warnings[0].detail.startswith("HS 3915 (waste/scrap) with end-of-waste status product")


def test_regranulate_declared_waste() -> None:
    warnings = check_consistency("plastic_waste", form="Pellets", status="waste", hs_code="3915.10")
    assert set(_codes(warnings)) == {
        "product_form_declared_waste",
        "product_form_with_waste_scrap_hs",
        "product_form_in_waste_family",
    }


def test_primary_form_heading_declared_waste() -> None:
    warnings = check_consistency("plastic_recyclate", status="waste", hs_code="3901.10")
    assert _codes(warnings) == ["hs_primary_form_with_waste_status"]


def test_end_of_waste_claim_needs_regulation() -> None:
    warnings = check_consistency("ferrous_scrap", status="end_of_waste", hs_code="7204.41")
    assert _codes(warnings) == ["eow_regulation_missing"]
    assert "333/2011" in warnings[0].detail


def test_end_of_waste_claim_with_right_regulation() -> None:
    for family, regulation in [
        ("ferrous_scrap", "Regulation (EU) No 333/2011"),
        ("aluminium_scrap", "333/2011"),
        ("copper_scrap", "715/2013"),
        ("glass_cullet", "1179/2012"),
    ]:
        warnings = check_consistency(family, status="end_of_waste", eow_regulation=regulation)
        assert warnings == [], family


def test_end_of_waste_claim_with_wrong_regulation() -> None:
    warnings = check_consistency("copper_scrap", status="end_of_waste", eow_regulation="333/2011")
    assert _codes(warnings) == ["eow_regulation_mismatch"]


def test_end_of_waste_for_paper_has_no_eu_criteria() -> None:
    warnings = check_consistency("paper", status="end_of_waste")
    assert _codes(warnings) == ["eow_no_eu_criteria"]


def test_unrecognised_regulation_text() -> None:
    warnings = check_consistency("glass_cullet", status="end_of_waste", eow_regulation="EoW")
    assert _codes(warnings) == ["eow_regulation_unrecognised"]


def test_regulation_without_end_of_waste_claim() -> None:
    warnings = check_consistency("ferrous_scrap", status="waste", eow_regulation="333/2011")
    assert _codes(warnings) == ["eow_regulation_without_claim"]


def test_waste_codes_on_non_waste_lot() -> None:
    warnings = check_consistency(
        "ferrous_scrap",
        status="end_of_waste",
        eow_regulation="333/2011",
        waste_code="19 12 02",
        basel_code="B1010",
    )
    assert _codes(warnings) == ["waste_code_on_non_waste", "basel_code_on_non_waste"]


def test_code_materials_must_fit_family() -> None:
    warnings = check_consistency("paper", waste_code="15 01 02", basel_code="B3011")
    assert _codes(warnings) == ["waste_code_family_mismatch", "basel_code_family_mismatch"]
    # Mixed fractions and generic metal codes fit.
    assert check_consistency("paper", waste_code="19 12 12") == []
    assert check_consistency("copper_scrap", waste_code="17 04 07", basel_code="B1010") == []
    assert check_consistency("aluminium_scrap", waste_code="17 04 02") == []
    assert _codes(check_consistency("aluminium_scrap", waste_code="17 04 01")) == [
        "waste_code_family_mismatch"
    ]


def test_hazardous_and_superseded_codes_are_reported() -> None:
    warnings = check_consistency("plastic_waste", waste_code="15 01 10*", basel_code="B3010")
    assert _codes(warnings) == ["hazardous_waste_code", "superseded_basel_entry"]
    warnings = check_consistency("plastic_waste", basel_code="A3210")
    assert _codes(warnings) == ["hazardous_basel_entry"]


def test_consistency_accepts_parsed_records() -> None:
    warnings = check_consistency(
        Family.GLASS_CULLET,
        status=EndOfWasteStatus.PRODUCT,
        hs_code=parse_hs_code("7001"),
        waste_code=parse_waste_code("20 01 02"),
    )
    assert _codes(warnings) == ["hs_waste_scrap_with_product_status", "waste_code_on_non_waste"]


def test_consistency_raises_on_invalid_codes() -> None:
    with pytest.raises(CodeError) as info:
        check_consistency("paper", waste_code="15 01 02*")
    assert info.value.code == "hazard_marker_mismatch"
    with pytest.raises(CodeError) as info:
        check_consistency("wood", hs_code="4707")
    assert info.value.code == "unknown_family"
