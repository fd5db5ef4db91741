"""Recorded procedures on disk: the coordinate-log layout of the Copenhagen Colonoscopy Coordinate Database.

See `sim.logs.coordinate_log` for the format, the reader, and the writers (live and whole-log).
"""

from sim.logs.coordinate_log import (
    END_LABELS,
    CoordinateLog,
    CoordinateLogError,
    CoordinateLogWarning,
    CoordinateLogWriter,
    EventLabel,
    LogEvent,
    read_coordinate_log,
    write_coordinate_log,
)

__all__ = [
    "END_LABELS",
    "CoordinateLog",
    "CoordinateLogError",
    "CoordinateLogWarning",
    "CoordinateLogWriter",
    "EventLabel",
    "LogEvent",
    "read_coordinate_log",
    "write_coordinate_log",
]
