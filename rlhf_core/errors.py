"""One exception type for problems a user can fix (bad params, bad data, missing artefacts).

Stages catch it at the CLI boundary and print its message as a single line, no traceback.
Messages name the problem and the fix: "data.source: file 'x.json' not found; point data.source
at an existing json/jsonl/parquet/csv file or use 'builtin'".
"""


class RlhfError(Exception):
    """A user-fixable problem; its message is shown as one line."""
