"""The resumable results file of a long job: one CSV row per finished task, written as it finishes.

Why: a sweep or a dataset evaluation runs for hours; each result is appended and flushed to disk
the moment it arrives, so a crash or Ctrl-C loses only the tasks still running, and a rerun into
the same folder skips every key already written. A half-written last line (the process died
mid-write) is dropped on resume. The folder's manifest (what was run, with which settings) must
match on resume, so results made with other settings are never mixed into one table.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from ..engine.errors import InputError
from ..io.writers import atomic_output

MANIFEST = "manifest.json"


class ResultLog:
    def __init__(self, path, columns, key_columns, manifest: dict):
        self.path = Path(path)
        self.columns = list(columns)
        self.key_columns = list(key_columns)
        self.manifest_path = self.path.parent / MANIFEST
        self.manifest = json.loads(json.dumps(manifest))  # tuples -> lists, as they come back from the file
        self._check_manifest()
        self._rows = self._read_complete_rows()

    def key(self, row: dict) -> tuple:
        return tuple(str(row[c]) for c in self.key_columns)

    def done(self) -> set:
        return {self.key(row) for row in self._rows}

    def rows(self) -> list:
        return list(self._rows)

    def append(self, row: dict) -> None:
        """Write one row and push it to the disk before returning."""
        values = {c: _cell(row.get(c, "")) for c in self.columns}
        if not self.manifest_path.exists():  # written with the first result: a run that fails first leaves nothing
            with atomic_output(self.manifest_path) as tmp:
                tmp.write_text(json.dumps(self.manifest, indent=1), encoding="utf-8")
        new = not self.path.exists()
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, self.columns)
            if new:
                writer.writeheader()
            writer.writerow(values)
            f.flush()
            os.fsync(f.fileno())
        self._rows.append({c: str(v) for c, v in values.items()})

    def _read_complete_rows(self) -> list:
        if not self.path.exists():
            return []
        text = self.path.read_text(encoding="utf-8")
        complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]  # drop a torn last line
        reader = csv.DictReader(io.StringIO(complete))
        if reader.fieldnames is not None and list(reader.fieldnames) != self.columns:
            raise InputError(f"{self.path} has other columns than this version writes: move it away or give "
                             "another output folder")
        rows = [row for row in reader if None not in row.values() and None not in row]
        if complete != text or len(rows) != complete.count("\n") - 1:
            with atomic_output(self.path) as tmp:  # rewrite without the broken lines
                with open(tmp, "w", newline="", encoding="utf-8") as f:
                    writer = csv.DictWriter(f, self.columns)
                    writer.writeheader()
                    writer.writerows(rows)
        return rows

    def _check_manifest(self) -> None:
        if not self.manifest_path.exists():
            return
        try:
            existing = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            existing = None
        if existing != self.manifest:
            changed = sorted(k for k in set(self.manifest) | set(existing or {})
                             if (existing or {}).get(k) != self.manifest.get(k))
            raise InputError(f"{self.path.parent} holds results made with other settings ({', '.join(changed)} "
                             "differ): give another output folder, or rerun with the same settings to resume")


def _cell(value):
    if isinstance(value, float):
        return f"{value:.10g}"
    return value
