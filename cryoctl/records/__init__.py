"""The session records: the SQLite store, its migrations, the audit chain, the course rules.

Used by the control process (its writer thread and its queries) and read-only by
the CLI; the panel server reads them only through the control socket.
"""
