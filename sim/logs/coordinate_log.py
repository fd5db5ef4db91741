"""Reader and writers for coordinate logs: the Copenhagen Colonoscopy Coordinate Database (CCD) folder layout.

One folder per procedure (DESIGN.md, "Coordinate logs"; reference/metrics.md §3):

- ``X.txt``, ``Y.txt``, ``Z.txt``: one line per sample, one value per coil (tip first), ``;`` after every value,
  e.g. ``12.34;-5.60;101.00;``. Millimetres, 2 decimals (the database rounds to 2 decimals).
- ``T.txt``: one value per line followed by ``;``: milliseconds since the first sample, e.g. ``16.667;``.
- ``LogFile_P.txt``: ``seconds;event;`` lines on the log's own clock. Danish event names are kept verbatim
  (``Fleksur L``, ``Polypectomi``; see `EventLabel`).

Clock alignment (CCD rule, replicated exactly): the log and the coordinates end at the same moment, so an event
at log time ``t_event`` (s) happens at ``T[-1] - (t_log_last*1000 - t_event*1000)`` ms on the coordinate clock,
where ``t_log_last`` is the time on the log's last line; its sample is the nearest one by absolute difference
(ties go to the earlier sample).

Units: the files are in mm and ms; everything colosim hands out is SI (m, s). The conversion happens only in
`_mm_to_m` / `_m_to_mm` and `_ms_to_s` / `_s_to_ms`. Coordinates stay in the recording's own frame: mapping
them into the world frame is the replay registration's job, not this module's.

Precision: coordinates are written with 2 decimals in mm, so a write-then-read round trip reproduces every
coordinate within 0.005 mm (5e-6 m); times are written to 1 µs.

colosim's writers add one line of their own, ``Recording started`` at the first sample (log time 0). It gives
an interrupted recording (no end line) an anchor so its events can still be placed, and it fills the log's first
line, which the CCD example code skips as a header.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

#: Coordinate files, one per axis, in axis order (x, y, z).
COORDINATE_FILES = ("X.txt", "Y.txt", "Z.txt")
TIME_FILE = "T.txt"
EVENT_FILE = "LogFile_P.txt"
ALL_FILES = (*COORDINATE_FILES, TIME_FILE, EVENT_FILE)

#: Decimals written: coordinates in mm (as in the database), T in ms (1 µs), log times in s (1 µs).
MM_DECIMALS = 2
MS_DECIMALS = 3
LOG_SECONDS_DECIMALS = 6

#: Two times closer than this are the same instant for the files (their resolution is 1 µs).
_SAME_TIME_S = 1e-6


class EventLabel(StrEnum):
    """Event names of ``LogFile_P.txt``, spelled as in the database (Danish where it is Danish)."""

    ENDOSCOPY_STARTED = "Endoscopy started"
    FLEXURE_LEFT = "Fleksur L"  # left (splenic) flexure
    FLEXURE_RIGHT = "Fleksur R"  # right (hepatic) flexure
    CECUM = "Cecum"
    POLYP = "Polyp"
    BIOPSY = "Biopsy"
    POLYPECTOMY = "Polypectomi"
    FLUSH = "Flush"
    ENDOSCOPY_ENDED = "Endoscopy ended"
    RECORDING_ENDED = "Recording ended"
    RECORDING_STARTED = "Recording started"  # colosim's own: written at the first sample (see module doc)


#: Labels that close a log; the CCD code accepts either.
END_LABELS = (EventLabel.ENDOSCOPY_ENDED.value, EventLabel.RECORDING_ENDED.value)


# --- units: the only place where file units meet SI -------------------------------------------------------------

_MM_PER_M = 1000.0
_MS_PER_S = 1000.0


def _mm_to_m(values_mm: np.ndarray) -> np.ndarray:
    return np.asarray(values_mm, dtype=float) / _MM_PER_M


def _m_to_mm(values_m: np.ndarray) -> np.ndarray:
    return np.asarray(values_m, dtype=float) * _MM_PER_M


def _ms_to_s(values_ms: np.ndarray | float) -> np.ndarray | float:
    return values_ms / _MS_PER_S


def _s_to_ms(values_s: np.ndarray | float) -> np.ndarray | float:
    return values_s * _MS_PER_S


# --- errors and records -----------------------------------------------------------------------------------------


class CoordinateLogError(ValueError):
    """A coordinate-log folder that cannot be read; the message names the file, the line and what was expected."""

    def __init__(self, path: Path | str, message: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        where = f"{self.path}" if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {message}")


class CoordinateLogWarning(UserWarning):
    """Something in a coordinate log was repaired on reading (ragged rows, an unfinished last line, ...)."""


@dataclass(frozen=True)
class LogEvent:
    """One line of ``LogFile_P.txt``.

    `t_s` is on the coordinate clock (the same axis as `CoordinateLog.t_s`), placed by the end-alignment rule;
    `sample_index` is the nearest sample; `log_s` is the raw time written in the log (its own clock), NaN for
    events made in code.
    """

    t_s: float
    label: str
    sample_index: int
    log_s: float = math.nan


@dataclass(frozen=True)
class CoordinateLog:
    """A recorded procedure: coil positions over time and the event log.

    Attributes:
        t_s: (N,) sample times in s, strictly increasing (``T.txt`` / 1000, so 0 at the first sample in files
            written by colosim; a file whose T does not start at 0 keeps its offset).
        coils_m: (N, K, 3) coil positions in m in the recording's frame; coil 0 is the tip. A coil with no
            reading in a sample (a short row, or ``nan`` in the file) is NaN in all three components.
        events: log lines in file order (a header line, if any, is not an event).
        folder: the folder the log was read from, None for a log made in code.
    """

    t_s: np.ndarray
    coils_m: np.ndarray
    events: list[LogEvent] = field(default_factory=list)
    folder: Path | None = None

    def __post_init__(self):
        t_s = np.asarray(self.t_s, dtype=float)
        coils_m = np.asarray(self.coils_m, dtype=float)
        if t_s.ndim != 1 or t_s.size == 0:
            raise ValueError(f"t_s must have shape (N,) with N >= 1, got {t_s.shape}")
        if coils_m.ndim != 3 or coils_m.shape[0] != t_s.size or coils_m.shape[2] != 3 or coils_m.shape[1] == 0:
            raise ValueError(f"coils_m must have shape (N={t_s.size}, K>=1, 3), got {coils_m.shape}")
        if not np.all(np.isfinite(t_s)) or np.any(np.diff(t_s) <= 0):
            raise ValueError("t_s must be finite and strictly increasing")
        # Frozen dataclass: normalise the arrays once, here.
        object.__setattr__(self, "t_s", t_s)
        object.__setattr__(self, "coils_m", coils_m)
        object.__setattr__(self, "events", list(self.events))

    @property
    def n_samples(self) -> int:
        return int(self.t_s.size)

    @property
    def n_coils(self) -> int:
        return int(self.coils_m.shape[1])

    @property
    def tip_m(self) -> np.ndarray:
        """(N, 3) tip positions in m (coil 0)."""
        return self.coils_m[:, 0, :]

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1] - self.t_s[0])

    def events_labelled(self, label: str) -> list[LogEvent]:
        """All events named exactly `label`, in file order."""
        return [event for event in self.events if event.label == label]

    def first_event(self, label: str) -> LogEvent | None:
        found = self.events_labelled(label)
        return found[0] if found else None

    def last_event(self, label: str) -> LogEvent | None:
        found = self.events_labelled(label)
        return found[-1] if found else None

    @property
    def cecum_event(self) -> LogEvent | None:
        """The first ``Cecum`` line (the CCD code uses only the first)."""
        return self.first_event(EventLabel.CECUM)

    @property
    def cecum_time_s(self) -> float | None:
        event = self.cecum_event
        return None if event is None else event.t_s

    @property
    def cecum_index(self) -> int | None:
        event = self.cecum_event
        return None if event is None else event.sample_index

    @property
    def end_event(self) -> LogEvent | None:
        """The last ``Endoscopy ended`` / ``Recording ended`` line (the CCD code lets the last one win)."""
        ends = [event for event in self.events if event.label in END_LABELS]
        return ends[-1] if ends else None


# --- reading ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lines:
    """The complete lines of one file (1-based numbering = list index + 1) and its unfinished last line, if any."""

    path: Path
    lines: list[str]
    unterminated: bool  # the last line has no line break: it may be the half-written end of a crashed recording


@dataclass(frozen=True)
class _ValueFile:
    """Parsed rows of X/Y/Z/T.txt: `rows[i]` comes from line i + 1."""

    path: Path
    rows: list[list[float]]
    dropped_partial: bool


@dataclass(frozen=True)
class _EventLine:
    line: int
    seconds: float
    label: str


def _read_lines(path: Path, expected: str) -> _Lines:
    if not path.is_file():
        raise CoordinateLogError(path, f"file is missing (expected {expected})")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # -sig: a byte-order mark from a Windows editor is not part of line 1
    except UnicodeDecodeError:
        # Files from Danish Windows machines may be in a legacy code page; the numbers are ASCII either way.
        text = data.decode("cp1252", errors="replace")
    parts = text.split("\n")
    unterminated = parts[-1] != ""
    if not unterminated:
        parts.pop()
    lines = [part.rstrip("\r") for part in parts]
    # Blank lines at the end carry no sample; editors and other tools add them.
    while lines and not lines[-1].strip():
        lines.pop()
        unterminated = False
    return _Lines(path, lines, unterminated)


def _drop_partial(lines: _Lines, found: list[str]) -> tuple[list[str], bool]:
    """Drop an unfinished last line (no line break and no closing ``;``), noting it in `found`."""
    if lines.unterminated and lines.lines and not lines.lines[-1].rstrip().endswith(";"):
        found.append(_partial_message(lines.path, len(lines.lines), lines.lines[-1]))
        return lines.lines[:-1], True
    return lines.lines, False


def _partial_message(path: Path, line: int, text: str) -> str:
    return (
        f"{path}, line {line}: dropped the unfinished last line {text.strip()!r} "
        "(the recording was probably interrupted while writing)"
    )


def _parse_values(path: Path, line_no: int, raw: str, expected: str, allow_nan: bool) -> list[float]:
    text = raw.strip()
    if not text:
        raise CoordinateLogError(path, f"empty line (expected {expected})", line_no)
    if not text.endswith(";"):
        raise CoordinateLogError(path, f"line {text!r} does not end with ';' (expected {expected})", line_no)
    fields = text[:-1].split(";")
    # Fast path for the common clean line; the slow loop below only runs to name the bad value.
    try:
        values = list(map(float, fields))
        if all(map(math.isfinite, values)):
            return values
    except ValueError:
        pass
    values = []
    for column, field_text in enumerate(fields, start=1):
        try:
            value = float(field_text)
        except ValueError:
            value = None
        if value is None or math.isinf(value) or (math.isnan(value) and not allow_nan):
            raise CoordinateLogError(
                path, f"value {column} {field_text.strip()!r} is not a number (expected {expected})", line_no
            )
        values.append(value)
    return values


def _read_coordinate_file(path: Path, found: list[str]) -> _ValueFile:
    expected = "one value in mm per coil, tip first, each followed by ';', e.g. '12.34;-5.60;'"
    lines = _read_lines(path, f"one line per sample: {expected}")
    if not lines.lines:
        raise CoordinateLogError(path, f"file is empty (expected one line per sample: {expected})", 1)
    kept, dropped = _drop_partial(lines, found)
    rows = [_parse_values(path, n, raw, expected, allow_nan=True) for n, raw in enumerate(kept, start=1)]
    # A crash can also cut a row right after a ';' ("1.00;2.00;" of a 3-coil row): an unterminated last row
    # shorter than the rows before it is unfinished, not ragged.
    if not dropped and lines.unterminated and len(rows) > 1 and len(rows[-1]) < max(len(r) for r in rows[:-1]):
        found.append(_partial_message(path, len(rows), kept[-1]))
        rows, dropped = rows[:-1], True
    return _ValueFile(path, rows, dropped)


def _read_time_file(path: Path, found: list[str]) -> _ValueFile:
    expected = "one value per line: milliseconds since the first sample followed by ';', e.g. '16.667;'"
    lines = _read_lines(path, expected)
    if not lines.lines:
        raise CoordinateLogError(path, f"file is empty (expected {expected})", 1)
    kept, dropped = _drop_partial(lines, found)
    rows = []
    for n, raw in enumerate(kept, start=1):
        values = _parse_values(path, n, raw, expected, allow_nan=False)
        if len(values) != 1:
            raise CoordinateLogError(path, f"{len(values)} values (expected {expected})", n)
        if rows and values[0] <= rows[-1][0]:
            raise CoordinateLogError(
                path,
                f"time {values[0]:g} ms is not after line {n - 1} ({rows[-1][0]:g} ms); "
                "expected strictly increasing times",
                n,
            )
        rows.append(values)
    return _ValueFile(path, rows, dropped)


def _read_event_file(path: Path, found: list[str]) -> tuple[list[_EventLine], bool]:
    expected = "'seconds;event;' lines, e.g. '12.5;Cecum;'"
    lines = _read_lines(path, f"the event log: {expected}")
    if not lines.lines:
        raise CoordinateLogError(path, f"file is empty (expected {expected})", 1)
    known = {label.value for label in EventLabel}
    last_fields = [part.strip() for part in lines.lines[-1].split(";")]
    if lines.unterminated and len(last_fields) == 2 and last_fields[1] in known:
        # The CCD example code does not prove the closing ';' on log lines; '600.1;Recording ended' with no line
        # break is complete (colosim always writes ';\n', so its cut lines never end in a whole known label).
        kept, dropped = lines.lines, False
    else:
        kept, dropped = _drop_partial(lines, found)
    entries: list[_EventLine] = []
    seen_content = False
    for n, raw in enumerate(kept, start=1):
        text = raw.strip()
        if not text:
            continue
        fields = [part.strip() for part in text.split(";")]
        label = fields[1] if len(fields) > 1 else ""
        try:
            seconds = float(fields[0])
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds):
            # The CCD code skips the first line of the log: a header there is allowed, a broken event is not.
            if not seen_content and label not in known:
                seen_content = True
                continue
            raise CoordinateLogError(path, f"time {fields[0]!r} is not a number in seconds (expected {expected})", n)
        seen_content = True
        if not label:
            raise CoordinateLogError(path, f"no event name after the time (expected {expected})", n)
        entries.append(_EventLine(n, seconds, label))
    if not entries:
        raise CoordinateLogError(path, f"no event lines (expected {expected})", max(len(kept), 1))
    _check_nothing_after_end(path, entries)
    return entries, dropped


def _check_nothing_after_end(path: Path, entries: list[_EventLine]) -> None:
    """The last line fixes the end of the log (the alignment anchor), so nothing may happen after it."""
    last = entries[-1]
    for entry in entries:
        if entry.seconds > last.seconds:
            raise CoordinateLogError(
                path,
                f"event {entry.label!r} at {entry.seconds:g} s is after the end of the log "
                f"(its last line, line {last.line}, is at {last.seconds:g} s; expected no event after the end)",
                entry.line,
            )
    ends = [entry for entry in entries if entry.label in END_LABELS]
    if ends:
        end = ends[-1]
        for entry in entries:
            if entry.line > end.line and entry.seconds > end.seconds:
                raise CoordinateLogError(
                    path,
                    f"event {entry.label!r} at {entry.seconds:g} s comes after {end.label!r} "
                    f"(line {end.line}, {end.seconds:g} s); expected no event after the end",
                    entry.line,
                )


def _describe_lines(numbers: Sequence[int], limit: int = 8) -> str:
    """'lines 3, 5-9, 12' from sorted line numbers, shortened after `limit` runs."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:limit])
    if len(runs) > limit:
        text += ", ..."
    return f"line{'s' if len(numbers) > 1 else ''} {text} ({len(numbers)} row{'s' if len(numbers) > 1 else ''})"


def _nearest_sample_indices(times_ms: np.ndarray, targets_ms: np.ndarray) -> np.ndarray:
    """Index of the nearest sample for each target, ties to the earlier sample (as ``argmin(abs(T - t))``).

    times_ms: (N,) strictly increasing; targets_ms: (E,). Returns (E,) int.
    """
    if times_ms.size == 1:
        return np.zeros(targets_ms.shape, dtype=int)
    right = np.clip(np.searchsorted(times_ms, targets_ms, side="left"), 1, times_ms.size - 1)
    left = right - 1
    take_left = (targets_ms - times_ms[left]) <= (times_ms[right] - targets_ms)
    return np.where(take_left, left, right)


def read_coordinate_log(folder: Path | str, *, require_cecum: bool = True) -> CoordinateLog:
    """Read one procedure folder (``X/Y/Z/T.txt`` + ``LogFile_P.txt``) into SI units.

    Raises `CoordinateLogError` (a ValueError naming the file, the line and what was expected) for non-numeric
    values, T not strictly increasing, X/Y/Z/T of different lengths, a missing or empty event log, events after
    the end of the log, and no ``Cecum`` event when `require_cecum`.

    Repairs, each reported with a `CoordinateLogWarning` naming file and lines:
    - ragged rows (fewer values than the widest row) are padded with NaN;
    - an unfinished last line (a crash mid-write) is dropped, and the files are cut to their common length;
    - an interrupted recording (no ``Recording ended`` / ``Endoscopy ended``; the files may then differ in
      length by the samples that were not flushed) is cut to the common length, and its events are aligned to
      colosim's ``Recording started`` line (at the first sample) instead of the end, which it never reached.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CoordinateLogError(folder, f"not a folder (expected a procedure folder with {', '.join(ALL_FILES)})")
    found: list[str] = []
    axes = [_read_coordinate_file(folder / name, found) for name in COORDINATE_FILES]
    times = _read_time_file(folder / TIME_FILE, found)
    entries, log_dropped = _read_event_file(folder / EVENT_FILE, found)

    has_end = any(entry.label in END_LABELS for entry in entries)
    interrupted = not has_end or log_dropped or times.dropped_partial or any(a.dropped_partial for a in axes)
    files = [*axes, times]
    shortest = min(files, key=lambda f: len(f.rows))
    n_samples = len(shortest.rows)
    if any(len(f.rows) != n_samples for f in files):
        longest = max(files, key=lambda f: len(f.rows))
        if not interrupted:
            raise CoordinateLogError(
                shortest.path,
                f"{n_samples} lines, but {longest.path.name} has {len(longest.rows)}: line {n_samples + 1} is "
                f"missing (expected one line per sample in each of {', '.join((*COORDINATE_FILES, TIME_FILE))})",
                n_samples + 1,
            )
        lengths = ", ".join(f"{f.path.name} {len(f.rows)}" for f in files)
        found.append(
            f"{folder}: files of an interrupted recording differ in length ({lengths} lines); "
            f"kept the first {n_samples} samples, which all of them have"
        )
    if n_samples == 0:
        raise CoordinateLogError(shortest.path, "no complete sample (expected at least one line)", 1)

    # Coil count: the widest row anywhere; the CCD code pads short rows with NaN.
    n_coils = max(len(row) for f in axes for row in f.rows[:n_samples])
    coils_mm = np.full((n_samples, n_coils, 3), np.nan)
    for axis, f in enumerate(axes):
        rows = f.rows[:n_samples]
        short = [i + 1 for i, row in enumerate(rows) if len(row) < n_coils]
        if not short:
            coils_mm[:, :, axis] = rows  # one bulk copy for the usual, rectangular file
            continue
        for i, row in enumerate(rows):
            coils_mm[i, : len(row), axis] = row
        found.append(f"{f.path}: {_describe_lines(short)} with fewer than {n_coils} values; padded with NaN")
    # A coil with a missing component is no position at all: blank all three.
    coils_mm[np.isnan(coils_mm).any(axis=2)] = np.nan

    times_all_ms = np.array([row[0] for row in times.rows])
    times_ms = times_all_ms[:n_samples]

    event_file = folder / EVENT_FILE
    start = next((e for e in entries if e.label == EventLabel.RECORDING_STARTED), None)
    if not has_end and start is not None:
        # colosim wrote `Recording started` at the first sample; the end never came, so anchor there.
        anchor_ms, anchor_log_s = times_ms[0], start.seconds
        found.append(
            f"{event_file}: no {' / '.join(END_LABELS)} line (interrupted recording?); events aligned to "
            f"'{EventLabel.RECORDING_STARTED}' on line {start.line} at the first sample"
        )
    else:
        # The CCD rule. The anchor is the last complete T value, even when a cut-short X/Y/Z dropped that sample:
        # it is still when the recording ended.
        anchor_ms, anchor_log_s = times_all_ms[-1], entries[-1].seconds
        if not has_end:
            found.append(
                f"{event_file}: no {' / '.join(END_LABELS)} line; aligned its last line (line "
                f"{entries[-1].line}) with the last sample as the CCD rule does"
            )
    log_s = np.array([entry.seconds for entry in entries])
    event_ms = anchor_ms - (_s_to_ms(anchor_log_s) - _s_to_ms(log_s))  # the CCD formula, in ms, term by term
    indices = _nearest_sample_indices(times_ms, event_ms)
    events = [
        LogEvent(t_s=float(_ms_to_s(t_ms)), label=entry.label, sample_index=int(index), log_s=entry.seconds)
        for entry, t_ms, index in zip(entries, event_ms, indices)
    ]

    if require_cecum and not any(e.label == EventLabel.CECUM for e in entries):
        raise CoordinateLogError(
            event_file,
            f"no '{EventLabel.CECUM}' event in lines {entries[0].line}-{entries[-1].line} (expected the procedure "
            "to reach the cecum; read with require_cecum=False for one that did not)",
        )

    for message in found:
        warnings.warn(message, CoordinateLogWarning, stacklevel=2)
    return CoordinateLog(t_s=_ms_to_s(times_ms), coils_m=_mm_to_m(coils_mm), events=events, folder=folder)


# --- writing ----------------------------------------------------------------------------------------------------


def _row_format(n_values: int) -> str:
    """Format string for one X/Y/Z line of `n_values` mm values: '12.30;-5.60;nan;' plus the line break."""
    return f"{{:.{MM_DECIMALS}f}};" * n_values + "\n"


def _rounded_mm(coils_m: np.ndarray) -> np.ndarray:
    """(K, 3) m -> (K, 3) mm rounded to the file's decimals; + 0.0 turns -0.0 into 0.0 (no '-0.00' in files)."""
    return np.round(_m_to_mm(coils_m), MM_DECIMALS) + 0.0


def _format_trimmed(value: float, decimals: int) -> str:
    """Integer-or-decimal ('1000', '16.667'), rounded to `decimals`."""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _check_label(label: str) -> str:
    label = str(label).strip()
    if not label or any(ch in label for ch in ";\r\n"):
        raise ValueError(f"event label {label!r} must be non-empty text without ';' or line breaks")
    return label


def _fsync_folder(folder: Path) -> None:
    """Make new directory entries durable too (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class CoordinateLogWriter:
    """Writes a coordinate log while a session runs, so that a crash leaves a readable recording.

    Each sample becomes one complete line in each of X/Y/Z/T.txt. Lines are buffered and written (and flushed to
    the operating system) whenever `flush_interval_s` of simulated time has passed since the last flush, so a
    crash loses at most that much; `close` fsyncs. Event lines are written at those same flushes, after the
    samples they refer to, so the log never points past the coordinates on disk. `close` writes the end line at
    the time of the last sample: log and coordinates end together, as the format requires.

    Times: `t_s` is any session clock in s; the files count from the first sample (T in ms, log in s), so the
    log time of the automatic ``Recording started`` line (written unless `start_label` is None) is 0.

    Use as a context manager; leaving the block closes the log (also after an exception, if anything was
    recorded).
    """

    def __init__(
        self,
        folder: Path | str,
        n_coils: int,
        *,
        flush_interval_s: float = 1.0,
        start_label: str | None = EventLabel.RECORDING_STARTED,
        overwrite: bool = False,
    ):
        if int(n_coils) < 1:
            raise ValueError(f"n_coils must be at least 1, got {n_coils}")
        if not flush_interval_s >= 0:
            raise ValueError(f"flush_interval_s must be >= 0, got {flush_interval_s}")
        self.folder = Path(folder)
        self.n_coils = int(n_coils)
        self.flush_interval_s = float(flush_interval_s)
        self._start_label = None if start_label is None else _check_label(start_label)
        self._row_format = _row_format(self.n_coils)  # built once: formatting is the writer's hot path
        self.folder.mkdir(parents=True, exist_ok=True)
        existing = [name for name in ALL_FILES if (self.folder / name).exists()]
        if existing and not overwrite:
            raise FileExistsError(f"{self.folder} already holds {', '.join(existing)} (pass overwrite=True)")
        self._files = {}
        try:
            for name in ALL_FILES:
                self._files[name] = open(self.folder / name, "w", encoding="utf-8", newline="\n")
        except OSError:
            self._close_files()
            raise
        self._pending: dict[str, list[str]] = {name: [] for name in (*COORDINATE_FILES, TIME_FILE)}
        self._pending_events: list[tuple[float, str]] = []
        self._t0: float | None = None
        self._last_t: float | None = None
        self._last_ms = -math.inf
        self._last_flush_ms = 0.0
        self._n_samples = 0
        self._start_written = self._start_label is None
        self._closed = False

    @property
    def n_samples(self) -> int:
        return self._n_samples

    @property
    def closed(self) -> bool:
        return self._closed

    def append(self, t_s: float, coils_m: np.ndarray) -> None:
        """Record one sample: `coils_m` (K, 3) in m, coil 0 the tip; NaN marks a coil with no reading.

        `t_s` must be after the previous sample by at least the files' 1 µs resolution.
        """
        self._check_open()
        t = float(t_s)
        coils = np.asarray(coils_m, dtype=float)
        if not math.isfinite(t):
            raise ValueError(f"sample time must be finite, got {t_s}")
        if coils.shape != (self.n_coils, 3):
            raise ValueError(f"coils_m must have shape ({self.n_coils}, 3), got {coils.shape}")
        if np.isinf(coils).any():
            raise ValueError("coil positions must be finite or NaN (no reading)")
        if self._t0 is None:
            self._t0 = t
        ms = round(_s_to_ms(t - self._t0), MS_DECIMALS)
        if ms <= self._last_ms:
            raise ValueError(
                f"sample time {t} s is not after the previous sample ({self._last_t} s) by 1 µs or more"
            )
        coils_mm = _rounded_mm(coils)
        for axis, name in enumerate(COORDINATE_FILES):
            self._pending[name].append(self._row_format.format(*coils_mm[:, axis].tolist()))
        self._pending[TIME_FILE].append(f"{_format_trimmed(ms, MS_DECIMALS)};\n")
        self._last_t, self._last_ms = t, ms
        self._n_samples += 1
        # Compare the rounded file times, not raw floats: 3.3 - 3.2 < 0.1 in binary would skip a flush.
        if ms - self._last_flush_ms >= round(_s_to_ms(self.flush_interval_s), MS_DECIMALS):
            self.flush()

    def event(self, t_s: float, label: str) -> None:
        """Log event `label` (verbatim, e.g. ``"Fleksur L"``) at session time `t_s` (s).

        The line is written at the next flush that has a sample at or after `t_s` on disk.
        """
        self._check_open()
        t = float(t_s)
        if not math.isfinite(t):
            raise ValueError(f"event time must be finite, got {t_s}")
        self._pending_events.append((t, _check_label(label)))

    def flush(self) -> None:
        """Write all buffered samples, then the event lines they cover, and flush the files to the OS."""
        self._check_open()
        if self._n_samples == 0:
            return
        # Coordinates first: an event line must never refer to a sample that is not on disk yet.
        for name, lines in self._pending.items():
            if lines:
                self._files[name].write("".join(lines))
                self._files[name].flush()
                lines.clear()
        log_lines = []
        if not self._start_written:
            log_lines.append(self._event_line(self._t0, self._start_label))
            self._start_written = True
        # Keep the caller's order: stop at the first event still ahead of the samples written.
        while self._pending_events and self._pending_events[0][0] <= self._last_t + _SAME_TIME_S:
            log_lines.append(self._event_line(*self._pending_events.pop(0)))
        if log_lines:
            self._files[EVENT_FILE].write("".join(log_lines))
            self._files[EVENT_FILE].flush()
        self._last_flush_ms = self._last_ms

    def close(self, end_label: str = EventLabel.RECORDING_ENDED) -> None:
        """Write everything, then `end_label` at the time of the last sample; fsync and close the files.

        Events later than the last sample are dropped with a `CoordinateLogWarning` (nothing may follow the end).
        Raises ValueError if no sample was appended (the files are closed anyway). Closing twice is harmless.
        """
        if self._closed:
            return
        try:
            end_label = _check_label(end_label)
            if self._n_samples == 0:
                raise ValueError(f"{self.folder}: no samples were appended; a coordinate log needs at least one")
            self.flush()
            if self._pending_events:
                late = ", ".join(f"{label!r} at {t:g} s" for t, label in self._pending_events)
                warnings.warn(
                    f"{self.folder / EVENT_FILE}: dropped events after the last sample ({self._last_t:g} s): {late}",
                    CoordinateLogWarning,
                    stacklevel=2,
                )
                self._pending_events.clear()
            self._files[EVENT_FILE].write(self._event_line(self._last_t, end_label))
            for f in self._files.values():
                f.flush()
                os.fsync(f.fileno())
        finally:
            self._close_files()
            self._closed = True
            _fsync_folder(self.folder)

    def _event_line(self, t_s: float, label: str) -> str:
        return f"{_format_trimmed(t_s - self._t0, LOG_SECONDS_DECIMALS)};{label};\n"

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"coordinate log writer for {self.folder} is closed")

    def _close_files(self) -> None:
        for f in self._files.values():
            f.close()

    def __enter__(self) -> CoordinateLogWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self._n_samples == 0:
            # Nothing recorded and already failing: release the files, don't mask the error with ours.
            self._close_files()
            self._closed = True
            return
        self.close()


def write_coordinate_log(folder: Path | str, log: CoordinateLog, *, overwrite: bool = False) -> Path:
    """Write a whole `CoordinateLog` to `folder` atomically (built in a temporary sibling, then renamed).

    Times are written from the first sample (T starts at 0 ms; log times in s from the first sample). Events
    are written at their `t_s` (their `log_s` and `sample_index` are not used: the reader recomputes them). The
    log is closed by ``Recording ended`` at the last sample, unless its last event is already an end line there.
    Raises ValueError for events after the last sample, FileExistsError if `folder` exists and not `overwrite`.
    Returns the folder.
    """
    folder = Path(folder)
    t_end = float(log.t_s[-1])
    late = [e for e in log.events if e.t_s > t_end + _SAME_TIME_S]
    if late:
        raise ValueError(
            f"events after the last sample ({t_end:g} s) cannot be written: "
            + ", ".join(f"{e.label!r} at {e.t_s:g} s" for e in late)
        )
    events = list(log.events)
    end_label = EventLabel.RECORDING_ENDED.value
    if events and events[-1].label in END_LABELS and abs(events[-1].t_s - t_end) <= _SAME_TIME_S:
        end_label = events.pop().label
    has_start = any(e.label == EventLabel.RECORDING_STARTED for e in events)

    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    if folder.exists() and not overwrite:
        raise FileExistsError(f"{folder} already exists (pass overwrite=True)")
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=parent))
    try:
        # One formatter for live and whole-log writing; no flushes until the end (nobody reads the staging copy).
        with CoordinateLogWriter(
            staging,
            log.n_coils,
            flush_interval_s=math.inf,
            start_label=None if has_start else EventLabel.RECORDING_STARTED,
            overwrite=True,
        ) as writer:
            for t_s, coils_m in zip(log.t_s, log.coils_m):
                writer.append(t_s, coils_m)
            for event in events:
                writer.event(event.t_s, event.label)
            writer.close(end_label)
        if folder.exists():
            # A folder cannot be renamed over a non-empty one: move the old one aside, then drop it.
            old = staging.with_name(staging.name + ".old")
            os.replace(folder, old)
            os.replace(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, folder)
        _fsync_folder(parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder

