"""Self-assessment: the items maps cannot measure, answered by each unit on a form.

Half of the complete-community items (utility networks, property management, governance)
cannot be seen in location data: the standard file lists them under ``not_assessed``.
``circles standards form`` writes an XLSX form with one row per unit (社区, 街道) and one
column per such item; each community answers 是 / 否 / 部分 (yes / no / partial), with one
notes column per row. ``--self-assessment form.xlsx`` reads it back.

Self-reported answers are never mixed with measured ones: they are marked as such in every
output, and a unit's score over all the standard's items (:func:`unit_item_score`) gives
the measured items reached and the self-reported answers as separate counts. Only 是
counts as an item reached: 部分 is reported but does not count (not half), because a
measured item counts only when every affected cluster reaches it; half a point would
score a self-reported item more leniently than a measured one.

The form names its standard (key, title and the items, on its ``about`` sheet), so a form
made for another standard is refused rather than read into the wrong items.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from circles._errors import InputError, one_line, shown_path
from circles.values import defuse_formula

if TYPE_CHECKING:
    import pandas as pd

    from circles.standards import NotAssessed, Standard

__all__ = [
    "ABOUT_SHEET",
    "ANSWERS",
    "FORM_SHEET",
    "SCORE_COLUMNS",
    "SelfAssessment",
    "form_items",
    "read_form",
    "unit_item_score",
    "write_form",
]

FORM_SHEET = "自评 self-assessment"
ABOUT_SHEET = "about"
FORM_KIND = "circles self-assessment form 完整社区自评表"
FORM_VERSION = 1
UNIT_HEADER = "单元 unit"
NOTES_HEADER = "备注 notes"
#: The answers a form may hold (case and surrounding spaces ignored), as circles names them.
ANSWERS: dict[str, str] = {
    "是": "yes",
    "否": "no",
    "部分": "partial",
    "yes": "yes",
    "no": "no",
    "partial": "partial",
    "y": "yes",
    "n": "no",
}
ANSWER_ZH = {"yes": "是", "no": "否", "partial": "部分"}
_CHOICES = "是, 否 or 部分 (yes, no, partial; Y, N)"
_EXAMPLES = 5  # unknown units named in a note


class _Units(Protocol):
    """What a form needs of the units (:class:`circles.units.Units`)."""

    name: np.ndarray
    level: str
    source: str


@dataclass
class SelfAssessment:
    """A form's answers, by unit name and item.

    Attributes
    ----------
    standard_key : str
        The standard the form was made for.
    answers : dict
        ``(unit name, item text)`` -> ``yes``, ``no`` or ``partial`` (the items as the
        standard's ``not_assessed`` list names them). An item left empty has no entry.
    notes : dict
        ``(unit name, "")`` -> the row's note (the form has one notes column per row).
    source : str
        The form's file name (never its full path).
    items : tuple of str
        The items the form asks about, in its column order.
    """

    standard_key: str
    answers: dict[tuple[str, str], str]
    notes: dict[tuple[str, str], str] = field(default_factory=dict)
    source: str = ""
    items: tuple[str, ...] = ()

    def answer(self, unit: str, item: str) -> str:
        """A unit's answer to an item.

        Parameters
        ----------
        unit : str
            The unit's name.
        item : str
            The item's text (``NotAssessed.item``; surrounding spaces ignored).

        Returns
        -------
        str
            ``yes``, ``no``, ``partial``, or ``""`` when it was not answered.
        """
        return self.answers.get((unit, item.strip()), "")

    def counts(self, unit: str) -> dict[str, int]:
        """How many items a unit answered 是, 否 and 部分.

        Parameters
        ----------
        unit : str
            The unit's name.

        Returns
        -------
        dict of str to int
            ``yes``, ``partial`` and ``no`` counts.
        """
        given = [a for (u, _), a in self.answers.items() if u == unit]
        return {k: given.count(k) for k in ("yes", "partial", "no")}


def form_items(standard: Standard) -> list[NotAssessed]:
    """The items a form asks about: the standard's ``not_assessed`` lists, level by level.

    An item listed at several levels (GB 50180-2018 lists some at two) is asked once: a
    community either has it or not.

    Parameters
    ----------
    standard : Standard
        The standard.

    Returns
    -------
    list of NotAssessed
        The items, each text once, in the file's order.
    """
    seen: dict[str, NotAssessed] = {}
    for level in standard.levels:
        for item in level.not_assessed:
            seen.setdefault(item.item.strip(), item)
    return list(seen.values())


# ---------------------------------------------------------------------------------------
# Writing the form
# ---------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A cell as text: ``None`` is empty, a whole number has no ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def write_form(standard: Standard, units: _Units, path: str | Path) -> Path:
    """The self-assessment form: one row per unit, one column per item maps cannot measure.

    The first sheet has the unit names, one column per item of :func:`form_items` (its
    header is the item's text, with its group and why it is not measured as a comment),
    each cell validated to 是 / 否 / 部分, and one notes column. The ``about`` sheet names
    the standard (key, title, document) and the units, so that :func:`read_form` refuses
    a form made for another standard. Unit names are defused
    (:func:`circles.values.defuse_formula`).

    Parameters
    ----------
    standard : Standard
        The standard (its ``not_assessed`` items).
    units : circles.units.Units
        The units (``name``, ``level``, ``source``).
    path : str or pathlib.Path
        The ``.xlsx`` file to write (replaced if it exists).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InputError
        The standard lists no item that maps cannot measure, there is no unit, the path
        is not an ``.xlsx`` file, or it cannot be written (its folder is missing, say).
    """
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    import circles

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise InputError(f"{shown_path(path)}: a self-assessment form is an .xlsx file")
    items = form_items(standard)
    if not items:
        raise InputError(
            f"standard {standard.key} lists no item that maps cannot measure (not_assessed): "
            "there is nothing to self-assess"
        )
    names = [str(n) for n in units.name]
    if not names:
        raise InputError("no unit to assess: the units file has no unit")
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = FORM_SHEET
    ws.append([UNIT_HEADER, *(i.item.strip() for i in items), NOTES_HEADER])
    for j, item in enumerate(items, start=2):
        cell = ws.cell(row=1, column=j)
        cell.comment = Comment(f"{item.group}\n{item.reason}".strip(), "circles")
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for name in names:
        ws.append([defuse_formula(name)])
    last = get_column_letter(len(items) + 1)
    rule = DataValidation(
        type="list",
        formula1='"是,否,部分"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="是 / 否 / 部分",
        error=f"填写 是、否 或 部分 · answer {_CHOICES}",
        showInputMessage=True,
        promptTitle="自评 self-assessment",
        prompt="是 / 否 / 部分 (yes / no / partial)",
    )
    rule.add(f"B2:{last}{len(names) + 1}")
    ws.add_data_validation(rule)
    ws.column_dimensions["A"].width = min(max(12, *(len(n) * 2 for n in names)), 40)
    for j in range(2, len(items) + 2):
        ws.column_dimensions[get_column_letter(j)].width = 16
    ws.column_dimensions[get_column_letter(len(items) + 2)].width = 40
    ws.row_dimensions[1].height = 48
    ws.freeze_panes = "B2"
    about = book.create_sheet(ABOUT_SHEET)
    src = standard.source
    rows: list[tuple[str, Any]] = [
        ("form", FORM_KIND),
        ("form_version", FORM_VERSION),
        ("standard", standard.key),
        ("title", standard.title),
        ("document", f"{src['number']} ({src['year']})"),
        ("units", f"{units.level} · {units.source} · {len(names)}"),
        ("items", len(items)),
        ("answers", "是 / 否 / 部分 (yes / no / partial); 空 empty: not assessed 未评"),
        ("notes", "备注: one per unit 每个单元一栏"),
        ("written_by", f"circles {circles.__version__}"),
    ]
    rows += [(f"item {k}", i.item.strip()) for k, i in enumerate(items, start=1)]
    for key, value in rows:
        about.append([key, defuse_formula(value)])
    about.column_dimensions["A"].width = 14
    about.column_dimensions["B"].width = 80
    # Saved beside, then renamed: a failed write leaves no half-written form.
    partial = path.with_name(path.name + ".partial")
    try:
        book.save(partial)
        partial.replace(path)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise InputError(
            f"cannot write the form {shown_path(path)}: {e.strerror or e}; give another --out"
        ) from None
    return path


# ---------------------------------------------------------------------------------------
# Reading it back
# ---------------------------------------------------------------------------------------


def _open(path: Path) -> Any:
    """The workbook, read-only with the values Excel computed; one clear line otherwise."""
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    shown = shown_path(path)
    if not path.is_file():
        raise InputError(f"self-assessment form {shown}: not found; check the path")
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        raise InputError(
            f"self-assessment form {shown}: give the .xlsx written by `circles standards form`"
        )
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as e:
        raise InputError(
            f"self-assessment form {shown}: not a readable XLSX workbook ({one_line(e, 80)})"
        ) from None


def _about(book: Any) -> dict[str, str]:
    if ABOUT_SHEET not in book.sheetnames:
        return {}
    out: dict[str, str] = {}
    for row in book[ABOUT_SHEET].iter_rows(max_col=2, values_only=True):
        if row and row[0] is not None:
            value = _text(row[1] if len(row) > 1 else None)
            out[_text(row[0])] = value[1:] if value.startswith("'") else value
    return out


def _record(header: Sequence[str], row: Sequence[Any]) -> str:
    """The row as JSON, by header (``column N`` past the header), empty cells left out."""
    n = max(len(header), len(row))
    names = [*header, *[""] * (n - len(header))]
    cells = [*row, *[None] * (n - len(row))]
    return json.dumps(
        {names[j] or f"column {j + 1}": _text(cells[j]) for j in range(n) if _text(cells[j])},
        ensure_ascii=False,
    )


def _rejected(
    file: str, row: int, reason: str, detail: str, name: str, record: str
) -> dict[str, Any]:
    """A rejected_rows.csv record of the form (kind ``self_assessment``)."""
    from circles.sources.tables.rejected import REASONS

    return {
        "file": file,
        "kind": "self_assessment",
        "row": row,
        "reason": reason,
        "reason_label": REASONS[reason],
        "detail": detail,
        "name": name,
        "x": "",
        "y": "",
        "record": record,
    }


def _columns(header: list[str], items: Iterable[str]) -> tuple[int, dict[int, str], int | None]:
    """The unit column, the item columns (index -> item) and the notes column."""
    wanted = set(items)
    unit_col = next((j for j, h in enumerate(header) if h == UNIT_HEADER), 0)
    item_cols = {j: h for j, h in enumerate(header) if h in wanted and j != unit_col}
    notes_col = next(
        (j for j, h in enumerate(header) if h == NOTES_HEADER or h.lower() in ("备注", "notes")),
        None,
    )
    return unit_col, item_cols, notes_col


def read_form(
    path: str | Path, standard: Standard, unit_names: Iterable[str]
) -> tuple[SelfAssessment, list[dict[str, Any]], list[str]]:
    """A filled form: the answers of the units in the boundaries, the rest reported.

    Answers are 是 / 否 / 部分, or yes / no / partial, Y / N (any case); an empty cell is
    not answered. A cell holding anything else, a row naming a unit not in the boundaries,
    a row without a unit name and a unit's second row go to ``rejected_rows.csv`` (kind
    ``self_assessment``; reasons ``bad_value``, ``no_match``, ``duplicate``) and the
    rest of the form is used.

    Parameters
    ----------
    path : str or pathlib.Path
        The form (``.xlsx``, as :func:`write_form` wrote it and a community filled it).
    standard : Standard
        The study's standard: the form must have been made for it.
    unit_names : iterable of str
        The units of the boundaries.

    Returns
    -------
    assessment : SelfAssessment
        The usable answers and notes.
    rejected : list of dict
        The rejected_rows.csv records, one per bad cell or unusable row.
    notes : list of str
        Warnings: units in the form but not in the boundaries, units without answers,
        columns that are not items of the standard.

    Raises
    ------
    InputError
        The file cannot be read as XLSX, the form was made for another standard (or names
        none of its items), or it holds no usable answer.
    """
    path = Path(path)
    shown = shown_path(path)
    book = _open(path)
    try:
        about = _about(book)
        made_for = about.get("standard", "")
        if made_for and made_for != standard.key:
            raise InputError(
                f"self-assessment form {shown} was made for standard {one_line(made_for, 60)},"
                f" not {standard.key}: write a new form with `circles standards form "
                f"{standard.key} --units ...` and fill it in"
            )
        sheets = [ws for ws in book.worksheets if ws.title != ABOUT_SHEET] or book.worksheets
        sheet = book[FORM_SHEET] if FORM_SHEET in book.sheetnames else sheets[0]
        sheet.reset_dimensions()  # a sheet saved by another program may understate its size
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    items = [i.item.strip() for i in form_items(standard)]
    header = [_text(h) for h in rows[0]] if rows else []
    unit_col, item_cols, notes_col = _columns(header, items)
    if not item_cols:
        raise InputError(
            f"self-assessment form {shown}: its header names none of the items of standard "
            f"{standard.key}; write the form with `circles standards form {standard.key} "
            "--units ...`"
        )
    names = list(unit_names)
    known = {n: n for n in names} | {
        defuse_formula(n): n for n in names if defuse_formula(n) not in names
    }
    notes: list[str] = []
    strangers = [
        h
        for j, h in enumerate(header)
        if h and j not in item_cols and j != unit_col and j != notes_col
    ]
    if strangers:
        notes.append(
            f"{path.name}: columns that are not items of {standard.key} were left out: "
            f"{', '.join(one_line(h, 40) for h in strangers[:_EXAMPLES])}"
        )
    left_out = [i for i in items if i not in item_cols.values()]
    if left_out:
        notes.append(f"{path.name}: the form lacks the items {', '.join(left_out)}")
    answers: dict[tuple[str, str], str] = {}
    row_notes: dict[tuple[str, str], str] = {}
    rejected: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    unknown: list[str] = []
    for k, row in enumerate(rows[1:], start=2):
        if all(_text(v) == "" for v in row):
            continue
        cells = row + [None] * (len(header) - len(row))
        record = _record(header, cells)
        raw_name = _text(cells[unit_col]) if unit_col < len(cells) else ""
        given = {j: _text(cells[j]) for j in item_cols if j < len(cells) and _text(cells[j])}
        note = _text(cells[notes_col]) if notes_col is not None and notes_col < len(cells) else ""
        if not raw_name:
            if given or note:
                rejected.append(
                    _rejected(path.name, k, "bad_value", "the row has no unit name", "", record)
                )
            continue
        name = known.get(raw_name)
        if name is None:
            unknown.append(raw_name)
            rejected.append(
                _rejected(
                    path.name,
                    k,
                    "no_match",
                    f"unit '{one_line(raw_name, 60)}' is not in the boundaries",
                    raw_name,
                    record,
                )
            )
            continue
        if name in seen:
            rejected.append(
                _rejected(
                    path.name,
                    k,
                    "duplicate",
                    f"unit '{one_line(name, 60)}' is already on row {seen[name]}: only that "
                    "row is used",
                    name,
                    record,
                )
            )
            continue
        seen[name] = k
        for j, value in given.items():
            answer = ANSWERS.get(value.lower())
            if answer is None:
                rejected.append(
                    _rejected(
                        path.name,
                        k,
                        "bad_value",
                        f"{item_cols[j]}: '{one_line(value, 40)}' is not {_CHOICES}",
                        name,
                        record,
                    )
                )
            else:
                answers[(name, item_cols[j])] = answer
        if note:
            row_notes[(name, "")] = note
    if unknown:
        listed = ", ".join(one_line(u, 40) for u in unknown[:_EXAMPLES])
        more = f" and {len(unknown) - _EXAMPLES} more" if len(unknown) > _EXAMPLES else ""
        notes.append(
            f"{path.name}: {len(unknown)} units in the form are not in the boundaries "
            f"({listed}{more}); their rows are in rejected_rows.csv"
        )
    if not answers:
        bad = [r for r in rejected if r["reason"] == "bad_value" and r["name"]]
        if bad:
            first = bad[0]
            raise InputError(
                f"self-assessment form {shown}: no usable answer; {len(bad)} cells are not "
                f"{_CHOICES}, e.g. row {first['row']}: {first['detail']}"
            )
        raise InputError(
            f"self-assessment form {shown}: no answer for any unit of the boundaries; fill "
            f"the item columns with 是, 否 or 部分"
        )
    silent = [n for n in names if not any((n, i) in answers for i in items)]
    if silent:
        notes.append(
            f"{path.name}: {len(silent)} of {len(names)} units answered no item; their "
            "self-assessed items stay not assessed"
        )
    assessment = SelfAssessment(
        standard.key, answers, row_notes, source=path.name, items=tuple(item_cols.values())
    )
    return assessment, rejected, notes


# ---------------------------------------------------------------------------------------
# The score over every item
# ---------------------------------------------------------------------------------------

SCORE_COLUMNS = (
    "unit",
    "items_reached",
    "items_total",
    "measured_reached",
    "measured_gap",
    "measured_total",
    "self_reported_yes",
    "self_reported_partial",
    "self_reported_no",
    "self_reported_total",
    "not_assessed",
)


def unit_item_score(items: pd.DataFrame) -> pd.DataFrame:
    """Each unit's score over every required item of the standard, by how it was assessed.

    ``items_reached`` = measured items reached + items self-assessed 是, out of
    ``items_total`` (every required item: 20 for complete-community-2020). The parts are
    reported apart and never mixed: ``measured_reached`` of ``measured_total`` (a measured
    item whose categories have no data, ``measured_gap``, counts as not reached);
    ``self_reported_yes``, ``_partial`` and ``_no`` of ``self_reported_total`` (answered);
    ``not_assessed`` (neither measured nor answered). 部分 does not count towards
    ``items_reached``: a measured item counts only when reached, and a self-reported one is
    held to the same rule.

    Parameters
    ----------
    items : pandas.DataFrame
        One row per unit × item (``UnitReport.items``): ``unit``, ``required`` (bool),
        ``how`` (``measured``, ``self_assessed``, ``not_assessed``) and ``status``
        (``reached``, ``missing``, ``partial``, ``gap``; ``yes``, ``no``, ``partial`` for
        self-assessed items).

    Returns
    -------
    pandas.DataFrame
        One row per unit (in first-seen order), columns :data:`SCORE_COLUMNS`.
    """
    import pandas as pd

    req = items[items["required"].astype(bool)]
    how = req["how"].astype(str)
    status = req["status"].astype(str)
    measured, selfrep = how == "measured", how == "self_assessed"

    def count(mask: pd.Series) -> pd.Series:
        return mask.groupby(req["unit"], sort=False).sum().astype(np.int64)

    units = pd.unique(items["unit"])
    out = pd.DataFrame({"unit": units})
    parts = {
        "items_total": count(pd.Series(True, index=req.index)),
        "measured_reached": count(measured & (status == "reached")),
        "measured_gap": count(measured & (status == "gap")),
        "measured_total": count(measured),
        "self_reported_yes": count(selfrep & (status == "yes")),
        "self_reported_partial": count(selfrep & (status == "partial")),
        "self_reported_no": count(selfrep & (status == "no")),
        "self_reported_total": count(selfrep),
        "not_assessed": count(how == "not_assessed"),
    }
    for key, values in parts.items():
        out[key] = out["unit"].map(values).fillna(0).astype(np.int64)
    out["items_reached"] = out["measured_reached"] + out["self_reported_yes"]
    return out[list(SCORE_COLUMNS)]
