"""Software units written from the vendors' interface documents.

An independent implementation: it imports neither ``cryoctl`` nor ``drivers``,
so a driver's misreading of a document is caught rather than copied.
"""
