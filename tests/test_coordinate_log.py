"""Coordinate-log reader and writers (CCD layout): round trips, alignment, validation, crash tolerance."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from sim.logs import (
    CoordinateLog,
    CoordinateLogError,
    CoordinateLogWarning,
    CoordinateLogWriter,
    EventLabel,
    LogEvent,
    read_coordinate_log,
    write_coordinate_log,
)

# Round trip tolerance: 2 decimals in mm (plus float noise), in metres.
MM_TOL_M = 0.005e-3 + 1e-12

# A hand-made CCD-style case: 2 coils, 5 samples 100 ms apart, a log on its own clock (50 s offset) with a header.
# All log times are exact in binary, so the alignment below is exact:
#   t_coord(event) = T[-1] - (t_log_last*1000 - t_event*1000) = 400 - (50500 - 1000*t_event) ms.
CCD_X = "10.00;20.00;\n11.00;21.00;\n12.00;22.00;\n13.00;23.00;\n14.00;24.00;\n"
CCD_Y = "-1.50;0.00;\n-1.50;0.10;\n-1.50;0.20;\n-1.50;0.30;\n-1.50;0.40;\n"
CCD_Z = "300.00;250.00;\n301.00;251.00;\n302.00;252.00;\n303.00;253.00;\n304.00;254.00;\n"
CCD_T = "0;\n100;\n200;\n300;\n400;\n"
CCD_LOG = (
    "Time;Event;\n"  # line 1: a header, skipped as the CCD code skips it
    "50;Endoscopy started;\n"  # -100 ms: before the first sample -> index 0
    "50.25;Fleksur L;\n"  # 150 ms: halfway between samples 1 and 2 -> the earlier one, 1
    "50.3125;Polyp;\n"  # 212.5 ms -> index 2
    "50.375;Cecum;\n"  # 275 ms -> index 3
    "50.5;Endoscopy ended;\n"  # 400 ms -> index 4 (the anchor)
)


def write_case(folder, *, x=CCD_X, y=CCD_Y, z=CCD_Z, t=CCD_T, log=CCD_LOG):
    """Write a procedure folder from raw text; None leaves that file out."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("X.txt", x), ("Y.txt", y), ("Z.txt", z), ("T.txt", t), ("LogFile_P.txt", log)):
        if text is not None:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


def read_quietly(folder, **kwargs):
    """Read and fail on any warning (the clean cases must not need repairs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_coordinate_log(folder, **kwargs)


# --- reading a hand-made case -------------------------------------------------------------------------------------


def test_read_hand_made_case_units_and_alignment(tmp_path):
    log = read_quietly(write_case(tmp_path / "case"))
    assert log.n_samples == 5 and log.n_coils == 2
    np.testing.assert_allclose(log.t_s, [0.0, 0.1, 0.2, 0.3, 0.4])
    assert log.coils_m.shape == (5, 2, 3)
    np.testing.assert_allclose(log.tip_m[2], [0.012, -0.0015, 0.302])  # mm -> m
    np.testing.assert_allclose(log.coils_m[4, 1], [0.024, 0.0004, 0.254])
    assert [e.label for e in log.events] == ["Endoscopy started", "Fleksur L", "Polyp", "Cecum", "Endoscopy ended"]
    assert [e.sample_index for e in log.events] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose([e.t_s for e in log.events], [-0.1, 0.15, 0.2125, 0.275, 0.4])
    assert [e.log_s for e in log.events] == [50.0, 50.25, 50.3125, 50.375, 50.5]  # raw log clock kept
    assert log.cecum_index == 3 and log.cecum_time_s == pytest.approx(0.275)
    assert log.first_event(EventLabel.FLEXURE_LEFT).sample_index == 1
    assert log.end_event.label == "Endoscopy ended"
    assert log.folder == tmp_path / "case"


def test_windows_line_endings_and_no_final_newline(tmp_path):
    folder = write_case(
        tmp_path / "crlf",
        x=CCD_X.replace("\n", "\r\n").rstrip("\r\n"),  # last line complete, just no line break
        t=CCD_T.replace("\n", "\r\n"),
    )
    log = read_quietly(folder)
    assert log.n_samples == 5
    np.testing.assert_allclose(log.tip_m[4, 0], 0.014)


def test_ragged_rows_are_padded_with_nan_and_reported(tmp_path):
    x = CCD_X.replace("12.00;22.00;\n", "12.00;\n").replace("14.00;24.00;\n", "14.00;\n")
    folder = write_case(tmp_path / "ragged", x=x)
    with pytest.warns(CoordinateLogWarning, match=r"X\.txt: lines 3, 5 \(2 rows\) with fewer than 2 values"):
        log = read_coordinate_log(folder)
    assert np.isnan(log.coils_m[2, 1]).all()  # the whole point, not just x
    assert np.isnan(log.coils_m[4, 1]).all()
    assert not np.isnan(log.coils_m[:, 0]).any()
    assert not np.isnan(log.coils_m[[0, 1, 3], 1]).any()


def test_require_cecum_false_reads_a_procedure_without_cecum(tmp_path):
    folder = write_case(tmp_path / "nocecum", log=CCD_LOG.replace("50.375;Cecum;\n", ""))
    log = read_quietly(folder, require_cecum=False)
    assert log.cecum_event is None and log.cecum_time_s is None and log.cecum_index is None


# --- validation errors: each names the file and the line ----------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "file_name", "where", "what"),
    [
        pytest.param({"x": CCD_X.replace("11.00;21.00;", "11.00;abc;")}, "X.txt", "line 2", "'abc' is not a number",
                     id="x-non-numeric"),
        pytest.param({"z": CCD_Z.replace("303.00;", "303.00 ;; ")}, "Z.txt", "line 4", "not a number",
                     id="z-empty-value"),
        pytest.param({"y": CCD_Y.replace("-1.50;0.20;", "-1.50;0.20")}, "Y.txt", "line 3", "does not end with ';'",
                     id="y-missing-semicolon"),
        pytest.param({"t": CCD_T.replace("200;", "2OO;")}, "T.txt", "line 3", "'2OO' is not a number",
                     id="t-non-numeric"),
        pytest.param({"t": CCD_T.replace("300;", "200;")}, "T.txt", "line 4", "strictly increasing",
                     id="t-not-increasing"),
        pytest.param({"t": CCD_T.replace("300;", "150;")}, "T.txt", "line 4", "strictly increasing",
                     id="t-decreasing"),
        pytest.param({"y": CCD_Y.replace("-1.50;0.40;\n", "")}, "Y.txt", "line 5", "X.txt has 5",
                     id="lengths-differ"),
        pytest.param({"t": CCD_T + "500;\n"}, "X.txt", "line 6", "T.txt has 6", id="t-longer"),
        pytest.param({"log": ""}, "LogFile_P.txt", "line 1", "empty", id="log-empty"),
        pytest.param({"log": "Time;Event;\n"}, "LogFile_P.txt", "line 1", "no event lines", id="log-header-only"),
        pytest.param({"log": CCD_LOG.replace("50.3125;Polyp;", "50,3;Polyp;")}, "LogFile_P.txt", "line 4",
                     "'50,3' is not a number", id="log-non-numeric"),
        pytest.param({"log": CCD_LOG.replace("50.3125;Polyp;", "50.3125;;")}, "LogFile_P.txt", "line 4",
                     "no event name", id="log-no-label"),
        pytest.param({"log": CCD_LOG.replace("50.3125;Polyp;", "50.75;Polyp;")}, "LogFile_P.txt", "line 4",
                     "after the end of the log", id="event-after-last-line"),
        pytest.param({"log": CCD_LOG + "50.625;Biopsy;\n"}, "LogFile_P.txt", "line 7",
                     "comes after 'Endoscopy ended'", id="event-after-end-label"),
        pytest.param({"log": CCD_LOG.replace("50.375;Cecum;\n", "")}, "LogFile_P.txt", "lines 2-5",
                     "no 'Cecum' event", id="no-cecum"),
    ],
)
def test_validation_errors_name_file_and_line(tmp_path, files, file_name, where, what):
    folder = write_case(tmp_path / "bad", **files)
    with pytest.raises(CoordinateLogError) as info:
        read_coordinate_log(folder)
    message = str(info.value)
    assert file_name in message and where in message and what in message, message
    assert info.value.path.name == file_name
    assert isinstance(info.value, ValueError)


def test_missing_log_file_is_an_error_naming_it(tmp_path):
    folder = write_case(tmp_path / "nolog", log=None)
    with pytest.raises(CoordinateLogError, match=r"LogFile_P\.txt: file is missing \(expected the event log"):
        read_coordinate_log(folder)


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(CoordinateLogError, match="not a folder"):
        read_coordinate_log(tmp_path / "nowhere")


# --- crashes --------------------------------------------------------------------------------------------------------


def write_small_recording(folder):
    """5 samples of 3 coils, 50 ms apart, with Cecum at sample 2; closed normally."""
    with CoordinateLogWriter(folder, n_coils=3) as writer:
        for i in range(5):
            writer.append(7.0 + 0.05 * i, np.full((3, 3), 0.001 * i) + [[0.0], [0.01], [0.02]])
            if i == 2:
                writer.event(7.0 + 0.05 * i, EventLabel.CECUM)
    return folder


@pytest.mark.parametrize("cut", ["0.04;0.0", "0.04;", "0"], ids=["mid-number", "after-semicolon", "first-char"])
def test_truncated_last_line_reads_back_with_warning(tmp_path, cut):
    folder = write_small_recording(tmp_path / "crash")
    x_path = folder / "X.txt"
    lines = x_path.read_text().splitlines(keepends=True)
    assert lines[-1] == "4.00;14.00;24.00;\n"
    x_path.write_text("".join(lines[:-1]) + lines[-1][: len(cut)])  # a crash mid-write of the last line
    assert not x_path.read_text().endswith("\n")
    with pytest.warns(CoordinateLogWarning) as record:
        log = read_coordinate_log(folder)
    messages = [str(w.message) for w in record]
    assert any("X.txt, line 5: dropped the unfinished last line" in m for m in messages), messages
    assert log.n_samples == 4  # the unfinished sample is dropped from all files
    np.testing.assert_allclose(log.t_s, [0.0, 0.05, 0.1, 0.15])
    # The end line still sits at T[-1] = 200 ms (the last complete T value): nearest kept sample is 3.
    assert log.end_event.sample_index == 3
    assert log.cecum_index == 2


def test_interrupted_writer_without_end_line_aligns_to_recording_started(tmp_path):
    folder = tmp_path / "killed"
    writer = CoordinateLogWriter(folder, n_coils=1, flush_interval_s=0.1)
    for i in range(40):  # 0 .. 0.39 s at 100 Hz on a session clock starting at 3 s
        writer.append(3.0 + i / 100, np.zeros((1, 3)))
        if i == 12:
            writer.event(3.0 + i / 100, EventLabel.CECUM)
    # No close(): as if the process died. Flushed up to the sample at 0.3 s (the one at 0.1 s, 0.2 s, 0.3 s).
    with pytest.warns(CoordinateLogWarning, match="aligned to 'Recording started'"):
        log = read_coordinate_log(folder)
    assert log.n_samples == 31
    assert log.cecum_index == 12 and log.cecum_time_s == pytest.approx(0.12)
    writer.close()


def test_interrupted_recording_with_files_of_different_lengths_is_cut(tmp_path):
    # A crash between flushing X and flushing T: no end line in the log, T one sample short.
    log_text = "0;Recording started;\n0.1;Cecum;\n"
    folder = write_case(tmp_path / "short", t="0;\n100;\n200;\n300;\n", log=log_text)
    with pytest.warns(CoordinateLogWarning) as record:
        log = read_coordinate_log(folder)
    messages = " | ".join(str(w.message) for w in record)
    assert "differ in length (X.txt 5, Y.txt 5, Z.txt 5, T.txt 4 lines)" in messages
    assert "aligned to 'Recording started' on line 1" in messages
    assert log.n_samples == 4 and log.cecum_index == 1


# --- writing --------------------------------------------------------------------------------------------------------


def make_log():
    """6 irregular samples, 3 coils with many decimals in mm, one missing reading, three events."""
    t_s = np.array([0.0, 0.0167, 0.05, 0.1, 0.1333, 0.2])
    rng = np.random.default_rng(7)
    coils_m = rng.uniform(-0.25, 0.25, size=(6, 3, 3))
    coils_m[3, 2] = np.nan
    events = [
        LogEvent(0.06, EventLabel.FLEXURE_LEFT, -1),  # samples 0.05 / 0.1 -> 2
        LogEvent(0.1, EventLabel.CECUM, -1),  # exactly sample 3
        LogEvent(0.12, EventLabel.POLYP, -1),  # 0.1 is 0.02 away, 0.1333 is 0.0133 away -> 4
    ]
    return CoordinateLog(t_s=t_s, coils_m=coils_m, events=events)


def test_write_then_read_round_trip(tmp_path):
    original = make_log()
    folder = write_coordinate_log(tmp_path / "rt", original)
    log = read_quietly(folder)
    np.testing.assert_allclose(log.t_s, original.t_s, atol=1e-9)
    assert np.array_equal(np.isnan(log.coils_m), np.isnan(original.coils_m))
    finite = ~np.isnan(original.coils_m)
    assert np.max(np.abs(log.coils_m[finite] - original.coils_m[finite])) <= MM_TOL_M
    assert [(e.label, e.sample_index) for e in log.events] == [
        ("Recording started", 0),
        ("Fleksur L", 2),
        ("Cecum", 3),
        ("Polyp", 4),
        ("Recording ended", 5),
    ]
    np.testing.assert_allclose([e.t_s for e in log.events], [0.0, 0.06, 0.1, 0.12, 0.2], atol=1e-9)

    # The files look like the database's, and a second round trip changes no byte.
    assert (folder / "T.txt").read_text().splitlines() == ["0;", "16.7;", "50;", "100;", "133.3;", "200;"]
    assert (folder / "LogFile_P.txt").read_text().splitlines() == [
        "0;Recording started;", "0.06;Fleksur L;", "0.1;Cecum;", "0.12;Polyp;", "0.2;Recording ended;"
    ]
    x_row = (folder / "X.txt").read_text().splitlines()[3]
    assert x_row.endswith(";nan;") and x_row.count(";") == 3
    again = write_coordinate_log(tmp_path / "rt2", log)
    for name in ("X.txt", "Y.txt", "Z.txt", "T.txt", "LogFile_P.txt"):
        assert (again / name).read_bytes() == (folder / name).read_bytes(), name


def test_write_is_atomic_and_refuses_to_clobber(tmp_path, monkeypatch):
    target = write_coordinate_log(tmp_path / "case", make_log())
    with pytest.raises(FileExistsError):
        write_coordinate_log(target, make_log())

    # A failure half-way leaves neither a half-written folder nor a staging folder behind.
    calls = {"n": 0}
    original_append = CoordinateLogWriter.append

    def failing_append(self, t_s, coils_m):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        original_append(self, t_s, coils_m)

    monkeypatch.setattr(CoordinateLogWriter, "append", failing_append)
    with pytest.raises(OSError, match="disk full"):
        write_coordinate_log(tmp_path / "other", make_log())
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case"]

    # overwrite=True replaces the folder in one step.
    shorter = CoordinateLog(t_s=[0.0, 1.0], coils_m=np.zeros((2, 1, 3)), events=[LogEvent(0.5, "Cecum", -1)])
    write_coordinate_log(target, shorter, overwrite=True)
    assert read_quietly(target).n_samples == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case"]


def test_write_refuses_events_after_the_last_sample(tmp_path):
    log = CoordinateLog(t_s=[0.0, 1.0], coils_m=np.zeros((2, 1, 3)), events=[LogEvent(1.5, "Polyp", -1)])
    with pytest.raises(ValueError, match="after the last sample"):
        write_coordinate_log(tmp_path / "late", log)
    assert not (tmp_path / "late").exists()


def test_writer_flushes_while_open(tmp_path):
    folder = tmp_path / "live"
    writer = CoordinateLogWriter(folder, n_coils=2)  # default: flush every simulated second
    try:
        for i in range(151):  # 1.5 s at 100 Hz
            t = 10.0 + i / 100
            writer.append(t, np.array([[0.001 * i, 0.0, 0.1], [0.0, 0.0, 0.0]]))
            if i == 50:
                writer.event(t, "Cecum")
        # The sample at 1.0 s after the first triggered a flush: samples 0..100 are on disk, complete lines.
        x_lines = (folder / "X.txt").read_text().splitlines(keepends=True)
        assert len(x_lines) == 101 and all(line.endswith(";\n") for line in x_lines)
        assert (folder / "T.txt").read_text().splitlines()[-1] == "1000;"
        assert (folder / "LogFile_P.txt").read_text() == "0;Recording started;\n0.5;Cecum;\n"
        with pytest.warns(CoordinateLogWarning, match="interrupted recording"):
            live = read_coordinate_log(folder)
        assert live.n_samples == 101 and live.cecum_index == 50
    finally:
        writer.close()
    log = read_quietly(folder)
    assert log.n_samples == 151
    assert log.end_event.label == "Recording ended" and log.end_event.sample_index == 150
    assert (folder / "LogFile_P.txt").read_text().splitlines()[-1] == "1.5;Recording ended;"
    assert log.tip_m[150, 0] == pytest.approx(0.150)


def test_writer_context_manager_ends_log_at_last_sample_even_on_error(tmp_path):
    folder = tmp_path / "ctx"
    with pytest.raises(RuntimeError, match="boom"):
        with CoordinateLogWriter(folder, n_coils=1) as writer:
            writer.append(0.0, np.zeros((1, 3)))
            writer.event(0.0, "Cecum")
            writer.append(0.25, np.ones((1, 3)) * 0.001)
            raise RuntimeError("boom")
    assert writer.closed
    log = read_quietly(folder)
    assert log.n_samples == 2 and log.end_event.t_s == pytest.approx(0.25)
    np.testing.assert_allclose(log.tip_m[1], [0.001, 0.001, 0.001])


def test_writer_end_label_and_late_events(tmp_path):
    folder = tmp_path / "late"
    writer = CoordinateLogWriter(folder, n_coils=1)
    writer.append(0.0, np.zeros((1, 3)))
    writer.event(0.0, "Cecum")
    writer.append(0.1, np.zeros((1, 3)))
    writer.event(0.3, "Polyp")  # later than any sample that will come
    with pytest.warns(CoordinateLogWarning, match="dropped events after the last sample.*'Polyp'"):
        writer.close(end_label=EventLabel.ENDOSCOPY_ENDED)
    writer.close()  # harmless
    assert (folder / "LogFile_P.txt").read_text().splitlines() == [
        "0;Recording started;", "0;Cecum;", "0.1;Endoscopy ended;"
    ]


def test_writer_rejects_bad_input(tmp_path):
    writer = CoordinateLogWriter(tmp_path / "w", n_coils=2)
    writer.append(1.0, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="not after the previous sample"):
        writer.append(1.0, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="not after the previous sample"):
        writer.append(1.0 + 1e-8, np.zeros((2, 3)))  # below the files' 1 µs resolution
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        writer.append(2.0, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite or NaN"):
        writer.append(2.0, np.full((2, 3), math.inf))
    with pytest.raises(ValueError, match="without ';'"):
        writer.event(1.0, "Polyp;Biopsy")
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.append(3.0, np.zeros((2, 3)))
    with pytest.raises(FileExistsError):
        CoordinateLogWriter(tmp_path / "w", n_coils=2)
    with pytest.raises(ValueError, match="no samples"):
        CoordinateLogWriter(tmp_path / "empty", n_coils=1).close()


def test_coordinate_log_checks_shapes():
    with pytest.raises(ValueError, match=r"shape \(N=2, K>=1, 3\)"):
        CoordinateLog(t_s=[0.0, 1.0], coils_m=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="strictly increasing"):
        CoordinateLog(t_s=[0.0, 0.0], coils_m=np.zeros((2, 1, 3)))


def test_log_without_end_line_uses_the_ccd_rule_with_a_warning(tmp_path):
    # No end label and no colosim start line: align the last line with the last sample, as the CCD code does.
    folder = write_case(tmp_path / "noend", log="50.25;Cecum;\n50.5;Polyp;\n")
    with pytest.warns(CoordinateLogWarning, match=r"aligned its last line \(line 2\) with the last sample"):
        log = read_coordinate_log(folder)
    assert [e.sample_index for e in log.events] == [1, 4]


def test_unterminated_last_log_line_without_semicolon(tmp_path):
    # A whole known label with no ';' and no line break is complete (possible in CCD files) ...
    folder = write_case(tmp_path / "ccd", log=CCD_LOG.rstrip("\n").removesuffix(";"))
    assert read_quietly(folder).end_event.sample_index == 4
    # ... a cut one is the unfinished end of a crashed recording.
    folder = write_case(tmp_path / "cut", log=CCD_LOG.rstrip("\n").removesuffix(" ended;"))
    with pytest.warns(CoordinateLogWarning) as record:
        log = read_coordinate_log(folder)
    messages = " | ".join(str(w.message) for w in record)
    assert "LogFile_P.txt, line 6: dropped the unfinished last line '50.5;Endoscopy'" in messages
    assert "aligned its last line (line 5)" in messages
    assert log.end_event is None and log.events[-1].label == "Cecum"


def test_nearest_sample_matches_argmin_with_ties_to_the_earlier_sample():
    from sim.logs.coordinate_log import _nearest_sample_indices

    rng = np.random.default_rng(3)
    times = np.cumsum(rng.integers(1, 5, size=50)).astype(float)  # integer ms: many exact ties below
    targets = np.concatenate([rng.uniform(-10, times[-1] + 10, 200), (times[:-1] + times[1:]) / 2])
    expected = [int(np.argmin(np.abs(times - t))) for t in targets]
    assert _nearest_sample_indices(times, targets).tolist() == expected


def test_byte_order_mark_and_legacy_code_page(tmp_path):
    folder = write_case(tmp_path / "bom")
    (folder / "X.txt").write_bytes(b"\xef\xbb\xbf" + CCD_X.encode())
    (folder / "LogFile_P.txt").write_bytes(CCD_LOG.replace("Time;Event;", "Tid;H\xe6ndelse;").encode("cp1252"))
    log = read_quietly(folder)
    np.testing.assert_allclose(log.tip_m[0, 0], 0.010)
    assert log.cecum_index == 3


# --- the remaining validation errors of issue 5: missing and empty coordinate files, odd values -----------------------


@pytest.mark.parametrize(
    ("files", "file_name", "what"),
    [
        pytest.param({"x": None}, "X.txt", "file is missing (expected one line per sample", id="x-missing"),
        pytest.param({"t": None}, "T.txt", "file is missing (expected one value per line", id="t-missing"),
        pytest.param({"z": ""}, "Z.txt", "line 1: file is empty (expected one line per sample", id="z-empty"),
        pytest.param({"t": ""}, "T.txt", "line 1: file is empty (expected one value per line", id="t-empty"),
        pytest.param({"t": "\n\n"}, "T.txt", "line 1: file is empty", id="t-blank-lines-only"),
        pytest.param({"t": CCD_T.replace("200;", "200;250;")}, "T.txt", "line 3: 2 values (expected one value",
                     id="t-two-values"),
        pytest.param({"t": CCD_T.replace("200;", "nan;")}, "T.txt", "line 3: value 1 'nan' is not a number",
                     id="t-nan"),
        pytest.param({"x": CCD_X.replace("13.00;", "inf;")}, "X.txt", "line 4: value 1 'inf' is not a number",
                     id="x-infinite"),
        pytest.param({"y": CCD_Y.replace("-1.50;0.10;\n", "\n")}, "Y.txt", "line 2: empty line", id="y-blank-line"),
    ],
)
def test_more_validation_errors_name_file_and_line(tmp_path, files, file_name, what):
    folder = write_case(tmp_path / "bad", **files)
    with pytest.raises(CoordinateLogError) as info:
        read_coordinate_log(folder)
    message = str(info.value)
    assert info.value.path.name == file_name and f"{file_name}" in message and what in message, message


def test_validation_error_reaches_the_colosim_score_output(tmp_path):
    """`colosim score` reports a bad case with the reader's message (file, line, expectation) and exits 1."""
    from click.testing import CliRunner

    from sim.cli import main

    folder = write_case(tmp_path / "case", t=CCD_T.replace("300;", "200;"))
    result = CliRunner().invoke(main, ["score", str(folder), "--out", str(tmp_path / "out"), "-j", "1",
                                       "--no-pictures"])
    assert result.exit_code == 1
    expected = "T.txt, line 4: time 200 ms is not after line 3 (200 ms); expected strictly increasing times"
    assert expected in result.output
